//! The flows flowc ships in `flows/`, built into the binary like the stdlib
//! schemas, so that `flowc sandbox` and `flowc init` work from any folder.
//! Their `*.test.flow` files stay in the repository: they hold sample
//! personal data that a user's folder must not.

/// One shipped file: its name in `flows/ccvshop-eaccounting/` and its text.
pub struct ShippedFile {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(ShippedFile {
            name: $name,
            text: include_str!(concat!("../flows/ccvshop-eaccounting/", $name)),
        }),*]
    };
}

/// The CCV Shop ⇄ eAccounting integration: the settings first, then its
/// flows in the order they are best run in — orders (with their customers
/// and articles), the catalog flows from the shop, and the articles back to
/// the shop last, so that it reads what the others wrote and recognises it.
pub const CCVSHOP_EACCOUNTING: &[ShippedFile] = shipped![
    "settings.flow",
    "orders.flow",
    "customers.flow",
    "products.flow",
    "stock.flow",
    "products-to-ccvshop.flow",
];

/// The folder the integration's files are written to, under a flows folder.
pub const CCVSHOP_EACCOUNTING_DIR: &str = "ccvshop-eaccounting";

/// The shipped files that hold flows (everything but the settings), in
/// their running order.
pub fn ccvshop_eaccounting_flows() -> impl Iterator<Item = &'static ShippedFile> {
    CCVSHOP_EACCOUNTING
        .iter()
        .filter(|f| f.name != "settings.flow")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flow in the folder is shipped, so a flow added there cannot be
    /// forgotten by the sandbox and `flowc init`.
    #[test]
    fn every_flow_of_the_folder_is_shipped() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/flows/ccvshop-eaccounting");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".flow") && !n.ends_with(".test.flow"))
            .collect();
        on_disk.sort();
        let mut shipped: Vec<String> = CCVSHOP_EACCOUNTING
            .iter()
            .map(|f| f.name.to_string())
            .collect();
        shipped.sort();
        assert_eq!(on_disk, shipped);
    }
}
