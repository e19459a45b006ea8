//! A deal's money and terms as a client sends them: tranches in one currency whose
//! exact sum is the total, and short statements of the terms.

use serde_json::Value;

use super::{MAX_TERM_LEN, MAX_TERMS, MAX_TRANCHES, Tranche};
use crate::model::FieldError;
use crate::model::fields::{self, MAX_TITLE_LEN, ObjectReader};
use crate::model::money::Money;

/// The total a deal stores: the client's, which must equal the tranches' exact sum
/// when there are tranches; else that sum; else none.
pub(super) fn check_total(
    total: Option<Money>,
    tranches: &[Tranche],
) -> Result<Option<Money>, FieldError> {
    let Some(first) = tranches.first() else {
        return Ok(total);
    };
    let currency = &first.amount.currency;
    if let Some(i) = tranches.iter().position(|t| &t.amount.currency != currency) {
        return Err(FieldError::new(
            format!("tranches[{i}].amount.currency"),
            format!("every tranche must be in the same currency ({currency})"),
        ));
    }
    let sum = Money::sum(tranches.iter().map(|t| &t.amount))
        .ok_or_else(|| FieldError::new("tranches", "the sum of the tranches is too large"))?;
    match total {
        None => Ok(Some(Money {
            amount: sum,
            currency: currency.clone(),
        })),
        Some(total) if &total.currency != currency => Err(FieldError::new(
            "total",
            format!(
                "is in {} but the tranches are in {currency}",
                total.currency
            ),
        )),
        Some(total) if total.amount != sum => Err(FieldError::new(
            "total",
            format!("is {} but the tranches add up to {sum}", total.amount),
        )),
        Some(total) => Ok(Some(total)),
    }
}

pub(super) fn parse_tranches(value: &Value, field: &str) -> Result<Vec<Tranche>, Vec<FieldError>> {
    let items = fields::array(value, MAX_TRANCHES).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut tranches = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{field}[{i}]");
        let Ok(mut r) = ObjectReader::new(item.clone()) else {
            errors.push(FieldError::new(
                &prefix,
                "must be an object {amount, on, note}",
            ));
            continue;
        };
        let amount = r.nested("amount", Money::from_json);
        if amount.is_none() && !r.has_error_for("amount") {
            r.push_error(FieldError::new("amount", "is required"));
        }
        if amount.as_ref().is_some_and(|m| m.amount.is_zero()) {
            r.push_error(FieldError::new("amount.amount", "must be more than zero"));
        }
        let on = r.required("on", fields::date);
        let note = r.optional("note", |v| fields::text(v, MAX_TITLE_LEN));
        match (r.finish(), amount, on) {
            (Ok(()), Some(amount), Some(on)) => tranches.push(Tranche {
                amount,
                on,
                note: note.unwrap_or_default(),
            }),
            (Err(inner), _, _) => errors.extend(fields::nested_errors(&prefix, inner)),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(tranches)
    } else {
        Err(errors)
    }
}

pub(super) fn parse_terms(value: &Value, field: &str) -> Result<Vec<String>, Vec<FieldError>> {
    let items = fields::array(value, MAX_TERMS).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut terms = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match fields::non_blank_text(item, MAX_TERM_LEN) {
            Ok(term) => terms.push(term),
            Err(m) => errors.push(FieldError::new(format!("{field}[{i}]"), m)),
        }
    }
    if errors.is_empty() {
        Ok(terms)
    } else {
        Err(errors)
    }
}
