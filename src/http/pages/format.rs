//! How the pages write amounts for people.

use crate::model::money::Money;

/// An amount with its currency and thousands separators: `USD 4,000,000,000`,
/// `EUR 1,234.50` (the scale the record was written with is kept).
pub fn money(money: &Money) -> String {
    let text = money.amount.to_string();
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3 + 8);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{} {grouped}.{fraction}", money.currency),
        None => format!("{} {grouped}", money.currency),
    }
}

/// A wire name (`under_review`) as words (`under review`).
pub fn words(wire: &str) -> String {
    wire.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;

    fn usd(amount: &str) -> Money {
        Money {
            amount: Decimal::from_str(amount).unwrap_or_default(),
            currency: "USD".to_owned(),
        }
    }

    #[test]
    fn groups_thousands_and_keeps_the_scale() {
        assert_eq!(money(&usd("4000000000")), "USD 4,000,000,000");
        assert_eq!(money(&usd("1234.50")), "USD 1,234.50");
        assert_eq!(money(&usd("999")), "USD 999");
        assert_eq!(money(&usd("1000")), "USD 1,000");
        assert_eq!(money(&usd("0.5")), "USD 0.5");
    }

    #[test]
    fn wire_names_read_as_words() {
        assert_eq!(words("under_review"), "under review");
        assert_eq!(words("ai_lab"), "ai lab");
    }
}
