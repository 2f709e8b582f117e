//! The shipped CCV Shop → eAccounting flows, built into the binary as
//! `flows/ccvshop-eaccounting/` holds them, so that `flowc init` and
//! `flowc sandbox` can write them anywhere. Their tests stay in the
//! repository: they hold sample personal data a user's folder must not.

/// The folder the flows live in, in the repository and where they are written.
pub const FOLDER: &str = "ccvshop-eaccounting";

/// The settings every flow imports.
pub const SETTINGS: (&str, &str) = (
    "settings.flow",
    include_str!("../../flows/ccvshop-eaccounting/settings.flow"),
);

/// One shipped flow file.
#[derive(Debug, PartialEq, Eq)]
pub struct ShippedFlow {
    /// What `flowc init --flows` calls it.
    pub id: &'static str,
    pub file: &'static str,
    pub text: &'static str,
    /// One line for the wizard.
    pub doc: &'static str,
}

pub static FLOWS: &[ShippedFlow] = &[
    ShippedFlow {
        id: "orders",
        file: "orders.flow",
        text: include_str!("../../flows/ccvshop-eaccounting/orders.flow"),
        doc: "paid shop orders → eAccounting documents (the document type below)",
    },
    ShippedFlow {
        id: "customers",
        file: "customers.flow",
        text: include_str!("../../flows/ccvshop-eaccounting/customers.flow"),
        doc: "registered shop customers → eAccounting customers",
    },
    ShippedFlow {
        id: "products",
        file: "products.flow",
        text: include_str!("../../flows/ccvshop-eaccounting/products.flow"),
        doc: "shop products → eAccounting articles, by SKU",
    },
    ShippedFlow {
        id: "stock",
        file: "stock.flow",
        text: include_str!("../../flows/ccvshop-eaccounting/stock.flow"),
        doc: "shop stock → the articles' stock balance in eAccounting",
    },
    ShippedFlow {
        id: "products-to-ccvshop",
        file: "products-to-ccvshop.flow",
        text: include_str!("../../flows/ccvshop-eaccounting/products-to-ccvshop.flow"),
        doc: "eAccounting articles → shop products (catalog kept in the bookkeeping)",
    },
];

/// The shipped flow called `id`.
pub fn flow(id: &str) -> Option<&'static ShippedFlow> {
    FLOWS.iter().find(|f| f.id == id)
}

/// `"orders", "customers", …` for messages.
pub fn ids() -> String {
    FLOWS
        .iter()
        .map(|f| format!("\"{}\"", f.id))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_flow_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("flows")
            .join(FOLDER);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".flow") && !n.ends_with(".test.flow"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FLOWS.iter().map(|f| f.file.to_string()).collect();
        embedded.push(SETTINGS.0.to_string());
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "a new shipped flow must be added to FLOWS"
        );
    }
}
