//! What the wizard says about the shipped CCV Shop → eAccounting flows
//! (their text is in `crate::shipped`, built into the binary once): the name
//! `flowc init --flows` gives each file and one line on what it does.

use crate::shipped::{ShippedFile, CCVSHOP_EACCOUNTING};

/// The folder the flows are written to, under `flows/`.
pub use crate::shipped::CCVSHOP_EACCOUNTING_DIR as FOLDER;

/// One shipped flow file as the wizard offers it.
#[derive(Debug, PartialEq, Eq)]
pub struct ShippedFlow {
    /// What `flowc init --flows` calls it.
    pub id: &'static str,
    pub file: &'static str,
    /// One line for the wizard.
    pub doc: &'static str,
}

impl ShippedFlow {
    /// The file's text, as shipped.
    pub fn text(&self) -> &'static str {
        shipped_text(self.file)
    }
}

/// The settings every flow imports: (file name, text).
pub fn settings() -> (&'static str, &'static str) {
    ("settings.flow", shipped_text("settings.flow"))
}

fn shipped_text(name: &str) -> &'static str {
    CCVSHOP_EACCOUNTING
        .iter()
        .find(|f: &&ShippedFile| f.name == name)
        .map_or("", |f| f.text)
}

/// In the order `crate::shipped` runs them.
pub static FLOWS: &[ShippedFlow] = &[
    ShippedFlow {
        id: "orders",
        file: "orders.flow",
        doc: "paid shop orders → eAccounting documents (the document type below)",
    },
    ShippedFlow {
        id: "customers",
        file: "customers.flow",
        doc: "registered shop customers → eAccounting customers",
    },
    ShippedFlow {
        id: "products",
        file: "products.flow",
        doc: "shop products → eAccounting articles, by SKU",
    },
    ShippedFlow {
        id: "stock",
        file: "stock.flow",
        doc: "shop stock → the articles' stock balance in eAccounting",
    },
    ShippedFlow {
        id: "products-to-ccvshop",
        file: "products-to-ccvshop.flow",
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
    fn the_wizard_offers_every_shipped_flow_in_running_order() {
        let shipped: Vec<&str> = crate::shipped::ccvshop_eaccounting_flows()
            .map(|f| f.name)
            .collect();
        let offered: Vec<&str> = FLOWS.iter().map(|f| f.file).collect();
        assert_eq!(
            offered, shipped,
            "a new shipped flow must be added to FLOWS"
        );
        assert!(FLOWS.iter().all(|f| !f.text().is_empty()));
        assert!(!settings().1.is_empty());
    }
}
