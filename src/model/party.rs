//! Companies as an event or a deal names them: `{company: ref, role}` on input,
//! `{id, slug, name, role}` on output.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::fields::{self, ObjectReader};
use super::role::Role;
use super::schema::RefText;
use super::{FieldError, Ref};

/// A party as the client names it: a company reference and its role.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyInput {
    /// The company's id or slug.
    pub company: Ref,
    /// Its role in the deal.
    pub role: Role,
}

/// A company and the part it played, as a client sends it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyRoleInput {
    /// The company's id or slug.
    #[schema(value_type = RefText)]
    pub company: String,
    /// Its role.
    pub role: Role,
}

impl From<&CompanyRole> for CompanyRoleInput {
    fn from(shown: &CompanyRole) -> Self {
        let CompanyRole {
            id: _,
            slug,
            name: _,
            role,
        } = shown;
        Self {
            company: slug.clone(),
            role: *role,
        }
    }
}

/// Reads a list of `{company: ref, role}`; a company may appear once per role.
pub fn parse_company_roles(
    items: &[Value],
    field: &str,
) -> Result<Vec<PartyInput>, Vec<FieldError>> {
    let mut parties: Vec<PartyInput> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{field}[{i}]");
        let Ok(mut r) = ObjectReader::new(item.clone()) else {
            errors.push(FieldError::new(
                &prefix,
                "must be an object {company, role}",
            ));
            continue;
        };
        let company = r.required("company", |v| {
            let s = fields::text(v, 200)?;
            Ref::parse(&s).ok_or_else(|| {
                format!("`{}` is not a company id or slug", fields::truncate(&s, 40))
            })
        });
        let role = r.required("role", Role::from_json);
        match (r.finish(), company, role) {
            (Ok(()), Some(company), Some(role)) => {
                if parties
                    .iter()
                    .any(|p| p.company == company && p.role == role)
                {
                    errors.push(FieldError::new(
                        format!("{prefix}.company"),
                        "is listed twice with the same role",
                    ));
                } else {
                    parties.push(PartyInput { company, role });
                }
            }
            (Err(inner), _, _) => errors.extend(fields::nested_errors(&prefix, inner)),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(parties)
    } else {
        Err(errors)
    }
}

/// A company as a deal or an event shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CompanyRole {
    /// The company's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Whether `parties` name the companies of `stored`, in the same order and roles: a
/// write of them would link the same records (a company named by id or by slug alike).
pub fn same_parties(parties: &[PartyInput], stored: &[CompanyRole]) -> bool {
    parties.len() == stored.len()
        && parties.iter().zip(stored).all(|(party, company)| {
            party.role == company.role && party.company.names(company.id, &company.slug)
        })
}
