//! Rebuilds the crate when a translation changes (rust-i18n reads locales/ at compile time).

fn main() {
    println!("cargo:rerun-if-changed=../locales");
}
