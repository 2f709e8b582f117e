//! The emulators' models and flowc's schema modules describe the same wire
//! formats. Every field the emulators know (`flowc_emulators::*::model`,
//! the very data they render responses and check writes with) must be in
//! `stdlib/ccvshop.flow` or `stdlib/eaccounting.flow` with the same type,
//! the same maximum length and the same range, and the other way round.
//! Where the two disagreed, the reference docs decided which side was
//! wrong; what remains different on purpose is listed below, with why.

use std::path::Path;
use std::sync::Arc;

use flowc::check::check_source;
use flowc::types::{FieldType, Kind, RecordType};
use flowc_emulators::ccvshop::model as ccv;
use flowc_emulators::eaccounting::model as ea;
use rust_decimal::Decimal;

/// Both schema modules, checked by flowc's own checker.
fn stdlib() -> Vec<(String, Arc<RecordType>)> {
    let text = "import \"stdlib/ccvshop.flow\"\nimport \"stdlib/eaccounting.flow\"\n";
    let checked = check_source(
        "models.flow",
        Some(Path::new(env!("CARGO_MANIFEST_DIR"))),
        text,
    );
    assert!(!checked.has_errors(), "the stdlib schemas do not check");
    checked
        .program
        .schemas
        .iter()
        .map(|s| (s.name.to_string(), s.record.clone()))
        .collect()
}

fn schema(all: &[(String, Arc<RecordType>)], name: &str) -> Arc<RecordType> {
    all.iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no schema {name} in stdlib"))
}

/// A field's range in the flow, as whole numbers.
fn flow_range(f: &FieldType) -> Option<(i64, i64)> {
    let whole = |d: Decimal| i64::try_from(d).ok();
    f.range.and_then(|(lo, hi)| Some((whole(lo)?, whole(hi)?)))
}

/// What one comparison found wrong, as `resource.field: why`.
#[derive(Default)]
struct Disagreements(Vec<String>);

impl Disagreements {
    fn add(&mut self, at: &str, why: impl AsRef<str>) {
        self.0.push(format!("{at}: {}", why.as_ref()));
    }

    fn assert_none(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what} disagree with stdlib in {} places:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

// ---------------------------------------------------------------- CCV Shop

/// CCV resources and the stdlib schema each one is.
const CCV_PAIRS: &[(&str, &str)] = &[
    ("orders", "ccvshop.orders"),
    ("orderrow", "ccvshop.orderrow"),
    ("products", "ccvshop.products"),
    ("categories", "ccvshop.categories"),
    ("producttocategories", "ccvshop.producttocategories"),
    ("attributecombinations", "ccvshop.attributecombination"),
    ("paymethods", "ccvshop.paymethods"),
    ("users", "ccvshop.users"),
    ("webshops", "ccvshop.webshops"),
];

/// Differences on purpose: the flowc connector embeds the rows it pages
/// from `/orders/{id}/orderrows` into each order, where the wire has a link.
const CCV_EMBEDDED_BY_THE_CONNECTOR: &[&str] = &["orders.orderrows"];

/// Resources flowc has no schema for: it never reads them as records.
const CCV_EMULATOR_ONLY: &[&str] = &["webhooks", "settings", "order_status", "orderrow_input"];

fn compare_ccv(model: &ccv::Resource, flow: &RecordType, at: &str, out: &mut Disagreements) {
    for f in model.read_fields() {
        let here = format!("{at}.{}", f.name);
        match flow.field(&f.name) {
            None => out.add(&here, "served by the emulator, missing in stdlib"),
            Some(g) => compare_ccv_field(f, g, &here, out),
        }
    }
    for g in &flow.fields {
        let here = format!("{at}.{}", g.name);
        match model.field(&g.name) {
            None => out.add(&here, "in stdlib, unknown to the emulator"),
            Some(f) if !f.read && f.writes == ccv::Writes::Never => out.add(
                &here,
                "in stdlib, neither served nor written by the emulator",
            ),
            Some(_) => {}
        }
    }
}

fn compare_ccv_field(f: &ccv::Field, g: &FieldType, at: &str, out: &mut Disagreements) {
    if CCV_EMBEDDED_BY_THE_CONNECTOR.contains(&at) {
        return;
    }
    if f.nullable && !g.optional {
        out.add(
            at,
            "the emulator may answer null, stdlib says it is always there",
        );
    }
    if f.writes != ccv::Writes::Never && g.readonly {
        out.add(at, "the emulator takes it on writes, stdlib says read-only");
    }
    if let Some(range) = flow_range(g) {
        if f.bound != ccv::Bound::Range(range.0, range.1) {
            out.add(
                at,
                format!("stdlib has range {range:?}, the emulator {:?}", f.bound),
            );
        }
    }
    compare_ccv_type(&f.ty, &g.ty.kind, at, out);
}

fn compare_ccv_type(ty: &ccv::Type, kind: &Kind, at: &str, out: &mut Disagreements) {
    use ccv::Type as T;
    match (ty, kind) {
        (_, Kind::Any) => {}
        (T::Str { max }, Kind::Str { max: flow_max, .. }) => {
            if max.map(|m| m as u32) != *flow_max {
                out.add(
                    at,
                    format!("max length: emulator {max:?}, stdlib {flow_max:?}"),
                );
            }
        }
        (T::Str { max: None }, Kind::Enum(_))
        | (T::Int, Kind::Int)
        | (T::Decimal, Kind::Decimal)
        | (T::Bool, Kind::Bool)
        | (T::DateTime, Kind::DateTime) => {}
        (T::Object(name), Kind::Record(record)) => {
            compare_ccv(ccv::resource(name), record, at, out);
        }
        (T::List(item), Kind::List(elem)) => compare_ccv_type(item, &elem.kind, at, out),
        (ty, kind) => out.add(at, format!("type: emulator {ty:?}, stdlib {kind:?}")),
    }
}

#[test]
fn ccvshop_emulator_and_stdlib_agree() {
    let all = stdlib();
    let mut out = Disagreements::default();
    for (resource, flow) in CCV_PAIRS {
        compare_ccv(
            ccv::resource(resource),
            &schema(&all, flow),
            resource,
            &mut out,
        );
    }
    out.assert_none("the CCV Shop emulator's resources");
}

/// Write schemas in stdlib and the resource whose writes they describe.
const CCV_INPUTS: &[(&str, &str)] = &[("products", "ccvshop.product_input")];

#[test]
fn ccvshop_write_schemas_are_what_the_emulator_takes() {
    let all = stdlib();
    let mut out = Disagreements::default();
    for (resource, flow) in CCV_INPUTS {
        let model = ccv::resource(resource);
        let flow = schema(&all, flow);
        for g in flow.fields.iter().filter(|g| !g.readonly) {
            let at = format!("{resource} (write).{}", g.name);
            match model.field(&g.name) {
                Some(f) if f.writes == ccv::Writes::Both => {
                    let flow_required = !g.optional;
                    if f.required != flow_required {
                        out.add(
                            &at,
                            format!("required: emulator {}, stdlib {flow_required}", f.required),
                        );
                    }
                    compare_ccv_type(f.input_type(), &g.ty.kind, &at, &mut out);
                }
                _ => out.add(&at, "in stdlib, but POST and PATCH do not both take it"),
            }
        }
        for f in model
            .fields
            .iter()
            .filter(|f| f.writes == ccv::Writes::Both)
        {
            if flow.field(&f.name).is_none() {
                out.add(
                    &format!("{resource} (write).{}", f.name),
                    "written by the emulator, missing in stdlib",
                );
            }
        }
    }
    out.assert_none("the CCV Shop write schemas");
}

#[test]
fn every_ccvshop_resource_is_compared_or_emulator_only() {
    let reached = |name: &str| {
        CCV_PAIRS.iter().any(|(r, _)| *r == name)
            || CCV_EMULATOR_ONLY.contains(&name)
            || ccv::RESOURCES.all().iter().any(|r| {
                r.fields.iter().any(|f| {
                    let embeds = |t: &ccv::Type| matches!(t, ccv::Type::Object(n) if n == name);
                    embeds(&f.ty) || matches!(&f.ty, ccv::Type::List(t) if embeds(t))
                })
            })
    };
    for r in ccv::RESOURCES.all() {
        assert!(reached(&r.name), "{} is compared with nothing", r.name);
    }
}

// ---------------------------------------------------------------- eAccounting

/// eAccounting models and the stdlib schema each one is.
const EA_PAIRS: &[(&str, &str)] = &[
    ("CustomerApi", "eaccounting.customers"),
    ("ArticleApi", "eaccounting.articles"),
    ("ArticleLabelApi", "eaccounting.articlelabels"),
    ("CompanySettingsApi", "eaccounting.companysettings"),
    (
        "ArticleAccountCodingAPI",
        "eaccounting.articleaccountcodings",
    ),
    ("UnitApi", "eaccounting.units"),
    ("VatCodeApi", "eaccounting.vatcodes"),
    ("TermsOfPaymentApi", "eaccounting.termsofpayments"),
    ("CountryApi", "eaccounting.countries"),
    ("CurrencyApi", "eaccounting.currencies"),
    ("DeliveryMethodApi", "eaccounting.deliverymethods"),
    ("DeliveryTermApi", "eaccounting.deliveryterms"),
    ("AccountApi", "eaccounting.accounts"),
    ("FiscalYearApi", "eaccounting.fiscalyears"),
    ("VoucherApi", "eaccounting.vouchers"),
    ("OrderApi", "eaccounting.orders"),
    ("QuoteApi", "eaccounting.quotes"),
    (
        "CustomerInvoiceDraftApi",
        "eaccounting.customer_invoice_drafts",
    ),
    ("CustomerInvoiceApi", "eaccounting.customer_invoices"),
];

/// Differences on purpose: flowc requires rows on a draft, which the API
/// does not, because a draft without rows cannot become an invoice.
const EA_STRICTER_IN_FLOWC: &[&str] = &["CustomerInvoiceDraftApi.Rows"];

fn compare_ea(model: &ea::Schema, flow: &RecordType, at: &str, out: &mut Disagreements) {
    for f in &model.fields {
        let here = format!("{at}.{}", f.name);
        match flow.field(&f.name) {
            None => out.add(&here, "known to the emulator, missing in stdlib"),
            Some(g) => compare_ea_field(f, g, &here, out),
        }
    }
    for g in &flow.fields {
        if model.field(&g.name).is_none() {
            out.add(
                &format!("{at}.{}", g.name),
                "in stdlib, unknown to the emulator",
            );
        }
    }
}

fn compare_ea_field(f: &ea::Field, g: &FieldType, at: &str, out: &mut Disagreements) {
    if f.read_only != g.readonly {
        out.add(
            at,
            format!("read-only: emulator {}, stdlib {}", f.read_only, g.readonly),
        );
    }
    let flow_required = !g.optional;
    if !f.read_only && f.required != flow_required && !EA_STRICTER_IN_FLOWC.contains(&at) {
        out.add(
            at,
            format!("required: emulator {}, stdlib {flow_required}", f.required),
        );
    }
    let model_range = match &f.kind {
        ea::Kind::Int(lo, hi) if (*lo, *hi) != (i32::MIN.into(), i32::MAX.into()) => {
            Some((*lo, *hi)).filter(|(_, hi)| *hi != i64::MAX)
        }
        ea::Kind::Dec {
            min: Some(lo),
            max: Some(hi),
            ..
        } => Some((*lo, *hi)),
        _ => None,
    };
    if model_range != flow_range(g) {
        out.add(
            at,
            format!(
                "range: emulator {model_range:?}, stdlib {:?}",
                flow_range(g)
            ),
        );
    }
    compare_ea_kind(&f.kind, &g.ty.kind, at, out);
}

fn compare_ea_kind(kind: &ea::Kind, flow: &Kind, at: &str, out: &mut Disagreements) {
    use ea::Kind as K;
    match (kind, flow) {
        (
            K::Str(max),
            Kind::Str {
                max: flow_max,
                units,
            },
        ) => {
            if max.map(|m| m as u32) != *flow_max {
                out.add(
                    at,
                    format!("max length: emulator {max:?}, stdlib {flow_max:?}"),
                );
            }
            // The emulator, like .NET, counts UTF-16 code units.
            if max.is_some() && *units != flowc::types::LengthUnit::Utf16 {
                out.add(at, format!("length unit: emulator utf16, stdlib {units:?}"));
            }
        }
        (K::Uuid, Kind::Uuid)
        | (K::Bool, Kind::Bool)
        | (K::Int(..), Kind::Int)
        | (K::Dec { .. }, Kind::Decimal)
        | (K::Date, Kind::Date)
        | (K::DateTime, Kind::DateTime)
        | (K::Object, Kind::Record(_) | Kind::Any)
        | (K::Json, Kind::List(_)) => {}
        (K::StrList, Kind::List(elem)) if matches!(elem.kind, Kind::Str { max: None, .. }) => {}
        (K::Rows(rows), Kind::List(elem)) => match &elem.kind {
            Kind::Record(record) => compare_ea(ea::schema(rows), record, &format!("{at}[]"), out),
            other => out.add(at, format!("rows of {rows}, stdlib a list of {other:?}")),
        },
        (kind, flow) => out.add(at, format!("type: emulator {kind:?}, stdlib {flow:?}")),
    }
}

#[test]
fn eaccounting_emulator_and_stdlib_agree() {
    let all = stdlib();
    let mut out = Disagreements::default();
    for (model, flow) in EA_PAIRS {
        compare_ea(ea::schema(model), &schema(&all, flow), model, &mut out);
    }
    out.assert_none("the eAccounting emulator's models");
}

#[test]
fn every_eaccounting_model_is_compared() {
    let rows_of = |name: &str| {
        ea::SCHEMAS.all().iter().any(|s| {
            s.fields
                .iter()
                .any(|f| matches!(&f.kind, ea::Kind::Rows(r) if r == name))
        })
    };
    for s in ea::SCHEMAS.all() {
        let compared = EA_PAIRS.iter().any(|(m, _)| *m == s.name) || rows_of(&s.name);
        assert!(compared, "{} is compared with nothing", s.name);
    }
}
