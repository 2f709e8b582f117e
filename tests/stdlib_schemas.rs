//! The CCV Shop and eAccounting schemas in `stdlib/` check cleanly, and they
//! are strict where the services are: a flow that leaves out a field
//! eAccounting requires is rejected before it runs.

use std::path::Path;

use flowc::check::{check_source, Checked};
use flowc::diag::{render_human, RenderOptions};

/// A realistic CCV Shop order → eAccounting invoice draft flow. `{{CUSTOMER_CITY}}`
/// is replaced by the InvoiceCity mapping, or by nothing to leave it out.
const FLOW: &str = r#"
import "stdlib/ccvshop.flow"
import "stdlib/eaccounting.flow"

# Ids from the customer's eAccounting company (reference data).
let standard_terms = "5a6f8e0c-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
let unit_piece = "0b6e1f9a-2d3c-4b5a-9e8f-7a6b5c4d3e2f"

# CCV tax percentage → article account coding.
table coding_by_vat {
  21 => "3c1d9a7e-0f2b-4d6c-8e5a-1b2c3d4e5f60"
  9  => "4d2e0b8f-1a3c-4e7d-9f6b-2c3d4e5f6a71"
  _  => "5e3f1c9a-2b4d-4f8e-8a7c-3d4e5f6a7b82"
}

flow orders_to_drafts {
  source file("x.ndjson") as ccvshop.orders
  target eaccounting.customer_invoice_drafts
  where paid and (is_completed ?? false)
  key "CCV-{ordernumber ?? id}" -> YourReference

  let billing = customer?.billingaddress

  upsert eaccounting.customers as debtor match customer?.email ?? "" | trim | lower | truncate(255) -> EmailAddress {
    blank_to_null(billing?.company) ?? billing?.full_name ?? "Webshop customer" | truncate(50) -> Name
    (customer?.customertype ?? "b2c") == "b2c" -> IsPrivatePerson
    true -> IsActive
    billing?.address_line_1 ?? trim("{billing?.street ?? ""} {billing?.housenumber ?? ""}{billing?.housenumber_suffix ?? ""}") | truncate(50) -> InvoiceAddress1
    billing?.zipcode ?? "" | truncate(10) -> InvoicePostalCode
    {{CUSTOMER_CITY}}
    billing?.country_code | truncate(2) -> InvoiceCountryCode
    customer?.btw ?? "" | truncate(20) -> VatNumber
    on create {
      standard_terms -> TermsOfPaymentId
    }
  }

  debtor.Id -> CustomerId
  false -> EuThirdParty
  0 -> RotReducedInvoicingType
  date(create_date) -> InvoiceDate
  "Webshop" -> OurReference
  customer?.deliveryaddress?.full_name ?? "" | truncate(50) -> DeliveryCustomerName
  customer?.deliveryaddress?.country_code | truncate(2) -> DeliveryCountryCode

  each orderrows as row -> Rows {
    upsert eaccounting.articles as article match row.product_number ?? "CCV-{row.product_id ?? row.id}" | truncate(40) -> Number {
      row.product_name ?? "Webshop article" | truncate(50) -> Name
      true -> IsActive
      coding_by_vat[row.tax] -> CodingId
      unit_piece -> UnitId
    }
    article.Id -> ArticleId
    false -> IsTextRow
    false -> ReversedConstructionServicesVatFree
    row.product_name ?? article.Name | truncate(2000) -> Text
    row.count -> Quantity
    row.price - row.discount -> UnitPrice
    0 -> DiscountPercentage
  }
}
"#;

const CITY: &str = r#"billing?.city ?? "" | truncate(50) -> InvoiceCity"#;

fn check(text: &str, dir: Option<&Path>) -> Checked {
    check_source("orders_to_drafts.flow", dir, text)
}

fn rendered(checked: &Checked) -> String {
    checked
        .diagnostics
        .iter()
        .map(|d| render_human(d, &checked.sources, RenderOptions::default()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_clean(checked: &Checked) {
    assert!(
        !checked.has_errors(),
        "expected no errors, got:\n{}",
        rendered(checked)
    );
    // The library files themselves must not even warn.
    let in_stdlib: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| {
            d.primary
                .as_ref()
                .is_some_and(|p| checked.sources.get(p.span.file).name.contains("stdlib/"))
        })
        .collect();
    assert!(
        in_stdlib.is_empty(),
        "the stdlib schemas produce diagnostics:\n{}",
        rendered(checked)
    );
}

#[test]
fn stdlib_schemas_check_cleanly_from_the_project_copy() {
    // Imports resolve relative to the repo root, i.e. the files in ./stdlib.
    let checked = check(
        &FLOW.replace("{{CUSTOMER_CITY}}", CITY),
        Some(Path::new(env!("CARGO_MANIFEST_DIR"))),
    );
    assert_clean(&checked);
    assert_eq!(checked.program.flows.len(), 1, "{}", rendered(&checked));
}

#[test]
fn stdlib_schemas_check_cleanly_from_the_builtin_copy() {
    // Without a folder the imports fall back to the copies built into the binary.
    let checked = check(&FLOW.replace("{{CUSTOMER_CITY}}", CITY), None);
    assert_clean(&checked);
    assert_eq!(checked.program.flows.len(), 1, "{}", rendered(&checked));
}

#[test]
fn leaving_out_a_required_customer_field_is_e0303() {
    let checked = check(
        &FLOW.replace("{{CUSTOMER_CITY}}", ""),
        Some(Path::new(env!("CARGO_MANIFEST_DIR"))),
    );
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error, got:\n{}",
        rendered(&checked)
    );
    assert_eq!(errors[0].code.id, "E0303", "{}", rendered(&checked));
    assert!(
        errors[0].message.contains("eaccounting.customers"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("`InvoiceCity`"),
        "{}",
        errors[0].message
    );
}
