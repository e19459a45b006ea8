//! The `wire_enum!` macro: lowercase snake_case enumerations whose wire names are
//! written once, shared by every resource that has one.

/// Defines a lowercase snake_case enumeration with its wire names in one place.
///
/// Paths are absolute so the macro expands the same wherever it is used.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// Every wire name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            /// Reads a wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some(Self::$variant),)+ _ => None }
            }

            /// Reads a JSON value holding a wire name.
            pub fn from_json(value: &::serde_json::Value) -> Result<Self, String> {
                $crate::model::fields::one_of(value, Self::NAMES).map(|i| Self::ALL[i])
            }
        }
    };
}

pub(crate) use wire_enum;
