//! ISO 3166-1 alpha-2 country codes: the officially assigned ones, and nothing else.

use serde_json::Value;

use super::fields;

/// Every officially assigned ISO 3166-1 alpha-2 code (249), sorted so a lookup is a
/// binary search. Kept in the code rather than a crate: the list changes rarely, and a
/// code that is well-formed but unassigned (`XX`, `UK`, `EU`) must be refused.
/// One line per initial letter, so a change is easy to review.
#[rustfmt::skip]
pub const ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ",
    "DE", "DJ", "DK", "DM", "DO", "DZ",
    "EC", "EE", "EG", "EH", "ER", "ES", "ET",
    "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY",
    "HK", "HM", "HN", "HR", "HT", "HU",
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
    "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM",
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY",
    "QA",
    "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ",
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
    "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU",
    "WF", "WS",
    "YE", "YT",
    "ZA", "ZM", "ZW",
];

/// Whether `code` is an officially assigned alpha-2 code, written in uppercase.
pub fn is_assigned(code: &str) -> bool {
    ALPHA2.binary_search(&code).is_ok()
}

/// Reads a country code: two ASCII letters, uppercased (`us` is `US`), that must be
/// officially assigned.
pub fn parse(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.len() != 2 || !trimmed.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "`{}` is not an ISO 3166-1 alpha-2 country code (two letters, such as US or GB)",
            fields::truncate(raw, 40)
        ));
    }
    let code = trimmed.to_ascii_uppercase();
    if !is_assigned(&code) {
        return Err(format!(
            "`{code}` is not an officially assigned ISO 3166-1 alpha-2 country code"
        ));
    }
    Ok(code)
}

/// Reads a JSON value holding a country code.
pub fn from_json(value: &Value) -> Result<String, String> {
    let Value::String(s) = value else {
        return Err(format!(
            "must be an ISO 3166-1 alpha-2 country code string, not {}",
            fields::json_kind(value)
        ));
    };
    parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_uppercase() {
        assert!(ALPHA2.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ALPHA2
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn assigned_codes_are_accepted_and_normalised() {
        for code in ["US", "GB", "FR", "DE", "CN", "JP", "AQ", "AX", "ZW"] {
            assert_eq!(
                parse(code).as_deref(),
                Ok(code),
                "{code} should be accepted"
            );
        }
        assert_eq!(parse("us").as_deref(), Ok("US"));
        assert_eq!(parse("Gb").as_deref(), Ok("GB"));
    }

    #[test]
    fn unassigned_or_malformed_codes_are_refused() {
        for bad in [
            "UK", "EU", "XX", "us1", "USA", "usa", "U", "", "1A", "U S", "ÜS",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(from_json(&serde_json::json!(840)).is_err());
    }
}
