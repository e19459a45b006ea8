//! The pages' stylesheet, script and icon, compiled into the binary and served under
//! names that carry a hash of their content, so a browser may keep them for a year and
//! a new build is fetched at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    /// Its name without the hash (`style.css`).
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file the pages use: the one list the routes and the links are made from.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/style.css"),
    },
    Asset {
        name: "live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/live.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/icon.svg"),
    },
];

/// The path every asset is served under.
pub const PREFIX: &str = "/assets/";

/// Each asset's served file name (`style.3f9a0c1b2d4e.css`), in the order of [`ASSETS`].
static FILE_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = twox_hash::XxHash3_128::oneshot(asset.body);
            let short = format!("{hash:032x}");
            match asset.name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{}.{ext}", &short[..12]),
                None => format!("{}.{}", asset.name, &short[..12]),
            }
        })
        .collect()
});

/// The URL path of the asset called `name`; an unknown name is a bug caught by the
/// pages' tests (every page links its assets).
pub fn url(name: &str) -> String {
    ASSETS
        .iter()
        .zip(FILE_NAMES.iter())
        .find(|(asset, _)| asset.name == name)
        .map_or_else(
            || format!("{PREFIX}{name}"),
            |(_, file)| format!("{PREFIX}{file}"),
        )
}

/// `GET /assets/{file}`: an asset by its hashed name, cached for a year; anything else
/// is a 404 (an old hash included: its content is gone).
pub async fn serve(Path(file): Path<String>) -> Response {
    let found = ASSETS
        .iter()
        .zip(FILE_NAMES.iter())
        .find(|(_, served)| **served == file);
    let Some((asset, _)) = found else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset",
        )
            .into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_hashed_url() {
        for asset in ASSETS {
            let url = url(asset.name);
            assert!(url.starts_with(PREFIX), "{url}");
            assert_ne!(url, format!("{PREFIX}{}", asset.name));
            let ext = asset.name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            assert!(url.ends_with(&format!(".{ext}")), "{url}");
        }
    }
}
