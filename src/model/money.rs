//! Money: an exact decimal amount, written as a string, in an ISO 4217 currency.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::FieldError;
use super::fields::{self, ObjectReader};

/// Most digits before the decimal point (sums of many such amounts still fit exactly).
pub const MAX_INTEGER_DIGITS: usize = 24;
/// Most digits after the decimal point.
pub const MAX_FRACTION_DIGITS: usize = 4;

/// ISO 4217 alphabetic codes, including funds codes and the ones withdrawn since 2023
/// (deals of that time may be stated in them); `XTS` (testing) and `XXX` (no currency)
/// are left out because they are not money.
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// An exact amount of one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Never negative; kept with the scale the client wrote (`1.50` stays `1.50`).
    pub amount: Decimal,
    /// An ISO 4217 code, uppercase.
    pub currency: String,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            amount: String,
            currency: &'a str,
        }
        Wire {
            amount: self.amount.to_string(),
            currency: &self.currency,
        }
        .serialize(serializer)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some(
                "An exact amount: a decimal string (never a JSON number) and an ISO 4217 code.",
            ))
            .property(
                "amount",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!(
                        "^[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?$"
                    )))
                    .examples(["2750000000"]),
            )
            .required("amount")
            .property(
                "currency",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(CURRENCIES.iter().copied()))
                    .examples(["USD"]),
            )
            .required("currency")
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ))
            .into()
    }
}

impl utoipa::ToSchema for Money {}

impl Money {
    /// Whether `other` is this amount written the same way: `1.50` and `1.5` are equal
    /// amounts (`==`), but a record that holds one shows it as written.
    pub fn same_as_written(&self, other: &Money) -> bool {
        self == other && self.amount.scale() == other.amount.scale()
    }

    /// Reads `{"amount": "2750000000", "currency": "USD"}`; errors are named under
    /// `field` (`total.amount`, `tranches[1].amount.currency`, ...).
    pub fn from_json(value: &Value, field: &str) -> Result<Self, Vec<FieldError>> {
        let mut r = ObjectReader::new(value.clone()).map_err(|_| {
            vec![FieldError::new(
                field,
                "must be an object {amount, currency}",
            )]
        })?;
        let amount = r.required("amount", parse_amount);
        let currency = r.required("currency", parse_currency);
        r.finish().map_err(|errors| {
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("{field}.{}", e.field), e.message))
                .collect::<Vec<_>>()
        })?;
        match (amount, currency) {
            (Some(amount), Some(currency)) => Ok(Self { amount, currency }),
            _ => Err(vec![FieldError::new(
                field,
                "needs an amount and a currency",
            )]),
        }
    }

    /// The exact sum of `amounts`, all of one currency; `None` on overflow.
    pub fn sum<'a>(amounts: impl IntoIterator<Item = &'a Money>) -> Option<Decimal> {
        amounts
            .into_iter()
            .try_fold(Decimal::ZERO, |sum, money| sum.checked_add(money.amount))
    }
}

/// A non-negative decimal string with at most 24 integer and 4 fraction digits.
fn parse_amount(value: &Value) -> Result<Decimal, String> {
    let Value::String(s) = value else {
        return Err(format!(
            "must be a decimal string such as \"2750000000\", not {} (JSON numbers lose precision)",
            fields::json_kind(value)
        ));
    };
    let (integer, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let shaped = !integer.is_empty()
        && digits(integer)
        && digits(fraction)
        && (!s.contains('.') || !fraction.is_empty());
    if !shaped {
        return Err(format!(
            "`{}` is not a decimal string such as \"2750000000\" or \"19.99\"",
            fields::truncate(s, 40)
        ));
    }
    if integer.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
        return Err(format!(
            "must have at most {MAX_INTEGER_DIGITS} digits before the point"
        ));
    }
    if fraction.len() > MAX_FRACTION_DIGITS {
        return Err(format!(
            "must have at most {MAX_FRACTION_DIGITS} digits after the point"
        ));
    }
    Decimal::from_str(s).map_err(|e| format!("is not a valid amount: {e}"))
}

/// An ISO 4217 code; lowercase is accepted and stored uppercase.
fn parse_currency(value: &Value) -> Result<String, String> {
    let code = fields::text(value, 3)?.to_ascii_uppercase();
    if CURRENCIES.binary_search(&code.as_str()).is_ok() {
        Ok(code)
    } else {
        Err(format!(
            "`{}` is not an ISO 4217 currency code",
            fields::truncate(&code, 10)
        ))
    }
}

/// Whether `code` is a known ISO 4217 currency code.
pub fn is_currency(code: &str) -> bool {
    CURRENCIES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_currency_list_is_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            is_currency("USD") && is_currency("EUR") && is_currency("GBP") && is_currency("JPY")
        );
        assert!(!is_currency("XXX") && !is_currency("ABC") && !is_currency("usd"));
    }

    #[test]
    fn amounts_are_exact_strings() {
        let m = Money::from_json(
            &json!({"amount": "12345678901234567", "currency": "usd"}),
            "total",
        )
        .unwrap();
        assert_eq!(m.currency, "USD");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"amount": "12345678901234567", "currency": "USD"})
        );
        let cents = Money::from_json(&json!({"amount": "19.90", "currency": "EUR"}), "x").unwrap();
        assert_eq!(serde_json::to_value(&cents).unwrap()["amount"], "19.90");
    }

    #[test]
    fn bad_money_names_each_field() {
        let cases = [
            (
                json!({"amount": 2.5, "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": 2750000000u64, "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "-5", "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "1e9", "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "1.", "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": ".5", "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "1.23456", "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "1 000", "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "1".repeat(25), "currency": "USD"}),
                vec!["total.amount"],
            ),
            (
                json!({"amount": "1", "currency": "DOLLARS"}),
                vec!["total.currency"],
            ),
            (
                json!({"amount": "1", "currency": "ZZZ"}),
                vec!["total.currency"],
            ),
            (json!({"amount": "1"}), vec!["total.currency"]),
            (
                json!({"amount": "1", "currency": "USD", "rate": 1}),
                vec!["total.rate"],
            ),
        ];
        for (value, want) in cases {
            let errors = Money::from_json(&value, "total").unwrap_err();
            let got: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, want, "{value}");
        }
        assert_eq!(
            Money::from_json(&json!("5 USD"), "total").unwrap_err()[0].field,
            "total"
        );
    }

    #[test]
    fn sums_are_exact() {
        let a = Money::from_json(&json!({"amount": "1250000000", "currency": "USD"}), "a").unwrap();
        let b = Money::from_json(&json!({"amount": "2750000000", "currency": "USD"}), "b").unwrap();
        assert_eq!(Money::sum([&a, &b]).unwrap().to_string(), "4000000000");
        let c = Money::from_json(&json!({"amount": "0.1", "currency": "USD"}), "c").unwrap();
        let d = Money::from_json(&json!({"amount": "0.2", "currency": "USD"}), "d").unwrap();
        assert_eq!(Money::sum([&c, &d]).unwrap().to_string(), "0.3");
    }
}
