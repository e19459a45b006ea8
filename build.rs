//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` directory at compile time, and Cargo would not otherwise know to look.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
