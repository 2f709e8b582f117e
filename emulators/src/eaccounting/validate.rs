//! Models as data: one [`Schema`] per API model, used to validate write
//! bodies, to shape responses (every property present, `null` when unset,
//! as the real API serialises) and to type-check `$filter`/`$orderby`.
//!
//! Required lists and max lengths come from Visma's 2018 Swagger, except
//! where the 2025 notes (`eaccounting-api.md` §3) differ; those places say so.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Number, Value};

const NO_MAX: usize = usize::MAX;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Max length in UTF-16 code units, as .NET's `StringLength` counts.
    Str(usize),
    Uuid,
    Bool,
    Int(i64, i64),
    Dec {
        min: Option<i64>,
        max: Option<i64>,
        scale: Option<u32>,
    },
    /// Accepts `YYYY-MM-DD` or an ISO 8601 date-time.
    DateTime,
    StrList,
    Rows(&'static Schema),
    /// An embedded object the server fills (read-only).
    Object,
    /// An array of small objects kept as sent (labels, persons, barcodes).
    Json,
}

#[derive(Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub read_only: bool,
}

#[derive(Debug, PartialEq)]
pub struct Schema {
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Builds the response shape: every property in model order, `null` (or
    /// `[]` for row arrays) where unset.
    pub fn complete(&self, mut values: Map<String, Value>) -> Value {
        let mut out = Map::new();
        for f in self.fields {
            let v = values.remove(f.name).unwrap_or(match f.kind {
                Kind::Rows(_) => Value::Array(vec![]),
                _ => Value::Null,
            });
            out.insert(f.name.to_string(), v);
        }
        Value::Object(out)
    }
}

const fn w(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        read_only: false,
    }
}
const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
        read_only: false,
    }
}
const fn ro(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        read_only: true,
    }
}
const fn s(max: usize) -> Kind {
    Kind::Str(max)
}
const fn dec(scale: u32) -> Kind {
    Kind::Dec {
        min: None,
        max: None,
        scale: Some(scale),
    }
}
const ANY_DEC: Kind = Kind::Dec {
    min: None,
    max: None,
    scale: None,
};
const FRACTION: Kind = Kind::Dec {
    min: Some(0),
    max: Some(1),
    scale: Some(4),
};
const I32: Kind = Kind::Int(i32::MIN as i64, i32::MAX as i64);
const U: Kind = Kind::Uuid;
const B: Kind = Kind::Bool;
const DT: Kind = Kind::DateTime;

pub static CUSTOMER: Schema = Schema {
    name: "CustomerApi",
    fields: &[
        ro("Id", U),
        // Swagger maxLength is 16 (its description says 20); the stricter wins.
        w("CustomerNumber", s(16)),
        w("CorporateIdentityNumber", s(20)),
        w("ContactPersonEmail", s(255)),
        w("ContactPersonMobile", s(50)),
        w("ContactPersonName", s(100)),
        w("ContactPersonPhone", s(50)),
        w("CurrencyCode", s(3)),
        w("GLN", s(255)),
        w("EmailAddress", s(255)),
        w("EmailAddressOrder", s(255)),
        w("EmailAddressQuote", s(255)),
        w("InvoiceAddress1", s(50)),
        w("InvoiceAddress2", s(50)),
        req("InvoiceCity", s(50)),
        w("InvoiceCountryCode", s(2)),
        req("InvoicePostalCode", s(10)),
        w("DeliveryCustomerName", s(100)),
        w("DeliveryAddress1", s(50)),
        w("DeliveryAddress2", s(50)),
        w("DeliveryCity", s(50)),
        w("DeliveryCountryCode", s(2)),
        w("DeliveryPostalCode", s(10)),
        w("DeliveryMethodId", U),
        w("DeliveryTermId", U),
        ro("PayToAccountId", U),
        req("Name", s(50)),
        w("Note", s(4000)),
        w("ReverseChargeOnConstructionServices", B),
        w("WebshopCustomerNumber", I32),
        w("MobilePhone", s(50)),
        w("Telephone", s(50)),
        req("TermsOfPaymentId", U),
        ro("TermsOfPayment", Kind::Object),
        w("VatNumber", s(20)),
        w("WwwAddress", s(255)),
        ro("LastInvoiceDate", DT),
        req("IsPrivatePerson", B),
        w("DiscountPercentage", FRACTION),
        ro("ChangedUtc", DT),
        req("IsActive", B),
        w("ForceBookkeepVat", B),
        w("EdiGlnNumber", s(NO_MAX)),
        w("SalesDocumentLanguage", s(2)),
        w("ElectronicAddress", s(NO_MAX)),
        // 2025: ElectronicReference ≤35 (absent from 2018).
        w("ElectronicReference", s(35)),
        w("EdiServiceDelivererId", s(NO_MAX)),
        w("EmailAddresses", Kind::StrList),
        w("CustomerLabels", Kind::Json),
        w("IsNorthernIreland", B),
        w("IsFutureInvoiceDateAllowed", B),
        w("DeliveryBasedVat", B),
        w("SalesPriceListId", U),
        w("DiscountAgreementId", U),
        w("Iban", s(NO_MAX)),
        ro("UnpaidInvoicesAmount", ANY_DEC),
    ],
};

const PRICE: Kind = Kind::Dec {
    min: Some(0),
    max: Some(10_000_000),
    scale: Some(2),
};

pub static ARTICLE: Schema = Schema {
    name: "ArticleApi",
    fields: &[
        ro("Id", U),
        req("IsActive", B),
        req("Number", s(40)),
        req("Name", s(50)),
        w("NameEnglish", s(50)),
        w("NetPrice", PRICE),
        w("GrossPrice", PRICE),
        req("CodingId", U),
        ro("CodingName", s(NO_MAX)),
        req("UnitId", U),
        ro("UnitName", s(NO_MAX)),
        ro("UnitAbbreviation", s(NO_MAX)),
        w("StockBalance", dec(4)),
        ro("StockBalanceManuallyChangedUtc", DT),
        ro("StockBalanceReserved", ANY_DEC),
        ro("StockBalanceAvailable", ANY_DEC),
        ro("CreatedUtc", DT),
        ro("ChangedUtc", DT),
        w("HouseWorkType", Kind::Int(0, 22)),
        w(
            "PurchasePrice",
            Kind::Dec {
                min: Some(0),
                max: None,
                scale: Some(4),
            },
        ),
        ro("PurchasePriceManuallyChangedUtc", DT),
        w("SendToWebshop", B),
        w("UsesMoss", B),
        w("ArticleLabels", Kind::Json),
        w("IsStock", B),
        w("StockLocationReference", s(NO_MAX)),
        w("FreightCosts", dec(4)),
        w("UpdateStockPrices", B),
        w("Barcodes", Kind::Json),
        w("GreenTechnologyType", Kind::Int(0, 3)),
        ro("IsServiceArticle", B),
    ],
};

// 2025 notes: only IsTextRow and ReversedConstructionServicesVatFree are
// required; 2018 also required LineNumber and Text (the server defaults them).
pub static DRAFT_ROW: Schema = Schema {
    name: "CustomerInvoiceDraftRowApi",
    fields: &[
        ro("Id", U),
        w("LineNumber", Kind::Int(0, 1000)),
        w("ArticleId", U),
        ro("ArticleNumber", s(NO_MAX)),
        req("IsTextRow", B),
        w("Text", s(2000)),
        w("UnitPrice", dec(4)),
        w("DiscountPercentage", FRACTION),
        w("Quantity", dec(2)),
        w("WorkCostType", Kind::Int(0, 22)),
        w("IsWorkCost", B),
        w("WorkHours", dec(2)),
        w("MaterialCosts", dec(2)),
        req("ReversedConstructionServicesVatFree", B),
        w("CostCenterItemId1", U),
        w("CostCenterItemId2", U),
        w("CostCenterItemId3", U),
        w("UnitId", U),
        ro("UnitAbbreviation", s(NO_MAX)),
        ro("VatRateId", s(NO_MAX)),
        ro("UnitName", s(NO_MAX)),
        w("ProjectId", U),
        ro("IsServiceArticle", B),
        w("GreenTechnologyType", Kind::Int(0, 3)),
    ],
};

// 2025 notes: CustomerId, RotReducedInvoicingType and EuThirdParty are
// required; the 2018 list also had the invoice address and
// CustomerIsPrivatePerson, which the server now copies from the customer.
pub static DRAFT: Schema = Schema {
    name: "CustomerInvoiceDraftApi",
    fields: &[
        ro("Id", U),
        req("CustomerId", U),
        ro("CreatedUtc", DT),
        w("IsCreditInvoice", B),
        req("RotReducedInvoicingType", Kind::Int(0, 2)),
        w("RotReducedInvoicingPropertyName", s(40)),
        w("RotReducedInvoicingOrgNumber", s(11)),
        w("RotReducedInvoicingAmount", dec(2)),
        w("RotReducedInvoicingAutomaticDistribution", B),
        w("RotPropertyType", Kind::Int(1, 2)),
        w("HouseWorkOtherCosts", dec(2)),
        w("Rows", Kind::Rows(&DRAFT_ROW)),
        w("Persons", Kind::Json),
        w("YourReference", s(100)),
        w("OurReference", s(100)),
        w("BuyersOrderReference", s(35)),
        w("ElectronicReference", s(100)),
        w("InvoiceCustomerName", s(50)),
        w("InvoiceAddress1", s(50)),
        w("InvoiceAddress2", s(50)),
        w("InvoicePostalCode", s(10)),
        w("InvoiceCity", s(50)),
        w("InvoiceCountryCode", s(2)),
        ro("InvoiceCurrencyCode", s(NO_MAX)),
        w("DeliveryCustomerName", s(50)),
        w("DeliveryAddress1", s(50)),
        w("DeliveryAddress2", s(50)),
        w("DeliveryPostalCode", s(10)),
        w("DeliveryCity", s(50)),
        w("DeliveryCountryCode", s(2)),
        w("DeliveryMethodName", s(50)),
        w("DeliveryTermName", s(50)),
        w("DeliveryMethodCode", s(20)),
        w("DeliveryTermCode", s(20)),
        req("EuThirdParty", B),
        ro("CustomerIsPrivatePerson", B),
        // Read-only in 2018, writable in the 2025 notes.
        w("ReverseChargeOnConstructionServices", B),
        ro("SalesDocumentAttachments", Kind::Json),
        w("InvoiceDate", DT),
        w("DueDate", DT),
        w("DeliveryDate", DT),
        ro("TotalAmount", ANY_DEC),
        ro("TotalVatAmount", ANY_DEC),
        ro("TotalRoundings", ANY_DEC),
        ro("TotalAmountBaseCurrency", ANY_DEC),
        ro("TotalVatAmountBaseCurrency", ANY_DEC),
        ro("CustomerNumber", s(16)),
        ro("CustomerName", s(NO_MAX)),
        ro("IncludesVat", B),
        w("ReplaceUnitPriceWhenZero", B),
        w("UsesGreenTechnology", B),
        w("IsDirectDebit", B),
    ],
};

pub static ORDER_ROW: Schema = Schema {
    name: "OrderRowApi",
    fields: &[
        ro("Id", U),
        req("LineNumber", Kind::Int(0, 1000)),
        w("DeliveredQuantity", dec(2)),
        w("ArticleId", U),
        ro("ArticleNumber", s(40)),
        req("IsTextRow", B),
        w("Text", s(2000)),
        w("UnitPrice", dec(4)),
        w("DiscountPercentage", FRACTION),
        w("Quantity", dec(4)),
        w("WorkCostType", Kind::Int(0, 22)),
        req("IsWorkCost", B),
        w("WorkHours", dec(2)),
        w("MaterialCosts", dec(2)),
        req("EligibleForReverseChargeOnVat", B),
        w("CostCenterItemId1", U),
        w("CostCenterItemId2", U),
        w("CostCenterItemId3", U),
        w("UnitId", U),
        w("ProjectId", U),
        ro("Amount", ANY_DEC),
        ro("IsServiceArticle", B),
        w("GreenTechnologyType", Kind::Int(0, 3)),
    ],
};

// 2025 notes: Amount, VatAmount, RoundingsAmount, the invoice address and
// CustomerIsPrivatePerson are no longer required (2018 had them); the server
// computes or copies them.
pub static ORDER: Schema = Schema {
    name: "OrderApi",
    fields: &[
        ro("Id", U),
        ro("Number", I32),
        ro("Amount", ANY_DEC),
        req("CustomerId", U),
        req("CurrencyCode", s(3)),
        ro("CreatedUtc", DT),
        ro("VatAmount", ANY_DEC),
        ro("RoundingsAmount", ANY_DEC),
        ro("DeliveredAmount", ANY_DEC),
        ro("DeliveredVatAmount", ANY_DEC),
        ro("DeliveredRoundingsAmount", ANY_DEC),
        w("DeliveryCustomerName", s(50)),
        w("DeliveryAddress1", s(50)),
        w("DeliveryAddress2", s(50)),
        w("DeliveryPostalCode", s(10)),
        w("DeliveryCity", s(50)),
        w("DeliveryCountryCode", s(2)),
        // 2025 notes: ≤100 (2018: ≤50).
        w("YourReference", s(100)),
        w("OurReference", s(100)),
        w("BuyersOrderReference", s(35)),
        w("InvoiceAddress1", s(50)),
        w("InvoiceAddress2", s(50)),
        w("InvoiceCity", s(50)),
        w("InvoiceCountryCode", s(2)),
        w("InvoiceCustomerName", s(50)),
        w("InvoicePostalCode", s(10)),
        w("DeliveryMethodName", s(50)),
        w("DeliveryMethodCode", s(50)),
        w("DeliveryTermName", s(50)),
        w("DeliveryTermCode", s(50)),
        req("EuThirdParty", B),
        ro("CustomerIsPrivatePerson", B),
        req("OrderDate", DT),
        req("Status", Kind::Int(1, 4)),
        ro("ModifiedUtc", DT),
        w("DeliveryDate", DT),
        w("HouseWorkAmount", dec(2)),
        w("HouseWorkAutomaticDistribution", B),
        w("HouseWorkCorporateIdentityNumber", s(20)),
        w("HouseWorkPropertyName", s(100)),
        w("Rows", Kind::Rows(&ORDER_ROW)),
        ro("ShippedDateTime", DT),
        req("RotReducedInvoicingType", Kind::Int(0, 2)),
        w("RotPropertyType", Kind::Int(1, 2)),
        w("Persons", Kind::Json),
        req("ReverseChargeOnConstructionServices", B),
        w("UsesGreenTechnology", B),
        ro("CustomerNumber", s(NO_MAX)),
        ro("CustomerName", s(NO_MAX)),
        ro("IncludesVat", B),
        ro("IsNotDelivered", B),
    ],
};

// 2018 marks LineNumber and IsTextRow read-only on invoice rows; a direct
// POST /customerinvoices still needs to say which rows are text rows, so
// both are accepted here.
pub static INVOICE_ROW: Schema = Schema {
    name: "CustomerInvoiceRowApi",
    fields: &[
        ro("Id", U),
        ro("ArticleNumber", s(NO_MAX)),
        w("ArticleId", U),
        ro("AmountNoVat", ANY_DEC),
        ro("PercentVat", ANY_DEC),
        w("LineNumber", Kind::Int(0, 1000)),
        w("IsTextRow", B),
        w("Text", s(2000)),
        w("UnitPrice", dec(4)),
        ro("UnitAbbreviation", s(NO_MAX)),
        ro("UnitAbbreviationEnglish", s(NO_MAX)),
        w("DiscountPercentage", FRACTION),
        w("Quantity", dec(2)),
        w("IsWorkCost", B),
        ro("IsVatFree", B),
        w("CostCenterItemId1", U),
        w("CostCenterItemId2", U),
        w("CostCenterItemId3", U),
        w("UnitId", U),
        w("ProjectId", U),
        w("WorkCostType", Kind::Int(0, 22)),
        w("WorkHours", dec(2)),
        w("MaterialCosts", dec(2)),
    ],
};

pub static INVOICE: Schema = Schema {
    name: "CustomerInvoiceApi",
    fields: &[
        ro("Id", U),
        req("EuThirdParty", B),
        w("IsCreditInvoice", B),
        ro("CurrencyCode", s(NO_MAX)),
        w("CurrencyRate", dec(6)),
        ro("CreatedByUserId", U),
        ro("TotalAmount", ANY_DEC),
        ro("TotalVatAmount", ANY_DEC),
        ro("TotalRoundings", ANY_DEC),
        ro("TotalAmountInvoiceCurrency", ANY_DEC),
        ro("TotalVatAmountInvoiceCurrency", ANY_DEC),
        req("CustomerId", U),
        req("Rows", Kind::Rows(&INVOICE_ROW)),
        w("InvoiceDate", DT),
        w("DueDate", DT),
        w("DeliveryDate", DT),
        req("RotReducedInvoicingType", Kind::Int(0, 2)),
        w("RotReducedInvoicingAmount", dec(2)),
        ro("RotReducedInvoicingPercent", ANY_DEC),
        w("RotReducedInvoicingPropertyName", s(NO_MAX)),
        w("RotReducedInvoicingOrgNumber", s(11)),
        w("Persons", Kind::Json),
        ro("RotReducedInvoicingAutomaticDistribution", B),
        w("ElectronicReference", s(NO_MAX)),
        ro("ElectronicAddress", s(NO_MAX)),
        w("EdiServiceDelivererId", s(50)),
        w("OurReference", s(50)),
        w("YourReference", s(50)),
        ro("InvoiceCustomerName", s(NO_MAX)),
        ro("InvoiceAddress1", s(NO_MAX)),
        ro("InvoiceAddress2", s(NO_MAX)),
        ro("InvoicePostalCode", s(NO_MAX)),
        ro("InvoiceCity", s(NO_MAX)),
        ro("InvoiceCountryCode", s(NO_MAX)),
        ro("DeliveryCustomerName", s(NO_MAX)),
        ro("DeliveryAddress1", s(NO_MAX)),
        w("DeliveryAddress2", s(50)),
        ro("DeliveryPostalCode", s(NO_MAX)),
        ro("DeliveryCity", s(NO_MAX)),
        ro("DeliveryCountryCode", s(NO_MAX)),
        ro("DeliveryMethodName", s(NO_MAX)),
        ro("DeliveryTermName", s(NO_MAX)),
        ro("DeliveryMethodCode", s(NO_MAX)),
        ro("DeliveryTermCode", s(NO_MAX)),
        ro("CustomerIsPrivatePerson", B),
        ro("TermsOfPaymentId", U),
        ro("CustomerEmail", s(NO_MAX)),
        ro("InvoiceNumber", I32),
        ro("CustomerNumber", s(NO_MAX)),
        ro("PaymentReferenceNumber", s(NO_MAX)),
        w("RotPropertyType", Kind::Int(1, 2)),
        ro("SalesDocumentAttachments", Kind::Json),
        ro("HasAutoInvoiceError", B),
        ro("IsNotDelivered", B),
        ro("ReverseChargeOnConstructionServices", B),
        w("WorkHouseOtherCosts", dec(2)),
        ro("RemainingAmount", ANY_DEC),
        ro("RemainingAmountInvoiceCurrency", ANY_DEC),
        ro("ReferringInvoiceId", U),
        ro("CreatedFromOrderId", U),
        ro("CreatedFromDraftId", U),
        ro("VoucherNumber", s(NO_MAX)),
        ro("VoucherId", U),
        ro("CreatedUtc", DT),
        ro("ModifiedUtc", DT),
        ro("ReversedConstructionVatInvoicing", B),
        ro("IncludesVat", B),
        ro("PaymentStatus", Kind::Int(0, 2)),
        ro("PaymentDate", DT),
        ro("SendType", Kind::Int(0, 3)),
    ],
};

pub static QUOTE_ROW: Schema = Schema {
    name: "QuoteRowApi",
    fields: &[
        ro("Id", U),
        w("LineNumber", Kind::Int(0, 1000)),
        w("ArticleId", U),
        ro("ArticleNumber", s(NO_MAX)),
        w("IsTextRow", B),
        w("Text", s(2000)),
        w("UnitPrice", dec(4)),
        ro("Amount", ANY_DEC),
        w("DiscountPercentage", FRACTION),
        w("Quantity", dec(4)),
        w("IsWorkCost", B),
        w("WorkCostType", Kind::Int(0, 22)),
        w("WorkHours", dec(2)),
        w("MaterialCosts", dec(2)),
        ro("IsVatFree", B),
        w("UnitId", U),
        w("CostCenterItemId1", U),
        w("CostCenterItemId2", U),
        w("CostCenterItemId3", U),
        w("ProjectId", U),
    ],
};

// QuoteApi is not in the 2018 Swagger; fields and limits follow the 2025
// notes (§3.7): only CustomerId is required.
pub static QUOTE: Schema = Schema {
    name: "QuoteApi",
    fields: &[
        ro("Id", U),
        ro("Number", I32),
        req("CustomerId", U),
        w("Status", Kind::Int(0, 4)),
        w("CompanyReference", s(100)),
        w("CustomerReference", s(100)),
        w("QuoteDate", DT),
        w("DueDate", DT),
        w("DeliveryDate", DT),
        ro("ApprovedDate", DT),
        w("CurrencyCode", s(3)),
        w("CurrencyRate", dec(6)),
        w("InvoiceCustomerName", s(50)),
        w("InvoiceAddress1", s(50)),
        w("InvoiceAddress2", s(50)),
        w("InvoicePostalCode", s(10)),
        w("InvoiceCity", s(50)),
        w("InvoiceCountryCode", s(2)),
        w("DeliveryCustomerName", s(50)),
        w("DeliveryAddress1", s(50)),
        w("DeliveryAddress2", s(50)),
        w("DeliveryPostalCode", s(10)),
        w("DeliveryCity", s(50)),
        w("DeliveryCountryCode", s(2)),
        w("RotReducedInvoicingType", Kind::Int(0, 2)),
        w("EuThirdParty", B),
        w("TermsOfPaymentId", U),
        ro("TermsOfPayment", Kind::Object),
        ro("TotalAmount", ANY_DEC),
        ro("VatAmount", ANY_DEC),
        ro("RoundingsAmount", ANY_DEC),
        ro("IsDomestic", B),
        w("Rows", Kind::Rows(&QUOTE_ROW)),
        ro("CustomerNumber", s(NO_MAX)),
        ro("CustomerName", s(NO_MAX)),
        ro("CustomerIsPrivatePerson", B),
        ro("IncludesVat", B),
        ro("CreatedUtc", DT),
        ro("ModifiedUtc", DT),
    ],
};

pub static VOUCHER_ROW: Schema = Schema {
    name: "VoucherRowApi",
    fields: &[
        req("AccountNumber", Kind::Int(1, i64::MAX)),
        ro("AccountDescription", s(NO_MAX)),
        w(
            "DebitAmount",
            Kind::Dec {
                min: Some(0),
                max: Some(1_000_000_000),
                scale: Some(2),
            },
        ),
        w(
            "CreditAmount",
            Kind::Dec {
                min: Some(0),
                max: Some(1_000_000_000),
                scale: Some(2),
            },
        ),
        w("TransactionText", s(50)),
        w("CostCenterItemId1", U),
        w("CostCenterItemId2", U),
        w("CostCenterItemId3", U),
        w("VatCodeId", U),
        ro("VatCodeAndPercent", s(NO_MAX)),
        w("Quantity", ANY_DEC),
        w("Weight", ANY_DEC),
        w("DeliveryDate", DT),
        w("HarvestYear", I32),
        w("ProjectId", U),
    ],
};

pub static VOUCHER: Schema = Schema {
    name: "VoucherApi",
    fields: &[
        ro("Id", U),
        req("VoucherDate", DT),
        req("VoucherText", s(100)),
        req("Rows", Kind::Rows(&VOUCHER_ROW)),
        ro("NumberAndNumberSeries", s(NO_MAX)),
        ro("NumberSeries", s(NO_MAX)),
        ro("Attachments", Kind::Object),
        ro("ModifiedUtc", DT),
        w("VoucherType", Kind::Int(2, 27)),
        w("SourceId", U),
    ],
};

pub static ACCOUNT: Schema = Schema {
    name: "AccountApi",
    fields: &[
        req("Name", s(100)),
        req("Number", s(NO_MAX)),
        w("VatCodeId", U),
        ro("VatCodeDescription", s(NO_MAX)),
        req("FiscalYearId", U),
        ro("ReferenceCode", s(NO_MAX)),
        ro("Type", I32),
        ro("TypeDescription", s(NO_MAX)),
        ro("ModifiedUtc", DT),
        req("IsActive", B),
        w("IsProjectAllowed", B),
        w("IsCostCenterAllowed", B),
        w("IsBlockedForManualBooking", B),
    ],
};

// FiscalYearApi has no required list in 2018; a year without dates is
// meaningless, so both dates are required here.
pub static FISCAL_YEAR: Schema = Schema {
    name: "FiscalYearApi",
    fields: &[
        ro("Id", U),
        req("StartDate", DT),
        req("EndDate", DT),
        ro("IsLockedForAccounting", B),
        ro("BookkeepingMethod", Kind::Int(0, 2)),
    ],
};

pub static UNIT: Schema = Schema {
    name: "UnitApi",
    fields: &[
        ro("Id", U),
        ro("Name", s(NO_MAX)),
        ro("Code", s(NO_MAX)),
        ro("Abbreviation", s(NO_MAX)),
        ro("AbbreviationEnglish", s(NO_MAX)),
    ],
};

pub static VAT_CODE: Schema = Schema {
    name: "VatCodeApi",
    fields: &[
        ro("Id", U),
        ro("Code", s(NO_MAX)),
        ro("Description", s(NO_MAX)),
        ro("VatRate", ANY_DEC),
        ro("OssCodeType", Kind::Int(0, 2)),
        ro("RelatedAccounts", Kind::Object),
    ],
};

pub static TERMS_OF_PAYMENT: Schema = Schema {
    name: "TermsOfPaymentApi",
    fields: &[
        ro("Id", U),
        ro("Name", s(NO_MAX)),
        ro("NameEnglish", s(NO_MAX)),
        ro("NumberOfDays", I32),
        ro("TermsOfPaymentTypeId", Kind::Int(0, 5)),
        ro("TermsOfPaymentTypeText", s(NO_MAX)),
        ro("AvailableForSales", B),
        ro("AvailableForPurchase", B),
    ],
};

pub static COUNTRY: Schema = Schema {
    name: "CountryApi",
    fields: &[
        ro("Name", s(NO_MAX)),
        ro("Code", s(NO_MAX)),
        ro("IsEuMember", B),
    ],
};

pub static CURRENCY: Schema = Schema {
    name: "CurrencyApi",
    fields: &[ro("Code", s(NO_MAX))],
};

pub static DELIVERY_METHOD: Schema = Schema {
    name: "DeliveryMethodApi",
    fields: &[
        ro("Id", U),
        ro("Name", s(100)),
        ro("NameEnglish", s(200)),
        ro("Code", s(20)),
    ],
};

pub static DELIVERY_TERM: Schema = Schema {
    name: "DeliveryTermApi",
    fields: &[
        ro("Id", U),
        ro("Name", s(100)),
        ro("NameEnglish", s(200)),
        ro("Code", s(20)),
        ro("Editable", B),
    ],
};

pub static CODING: Schema = Schema {
    name: "ArticleAccountCodingAPI",
    fields: &[
        ro("Id", U),
        ro("Name", s(NO_MAX)),
        ro("NameEnglish", s(NO_MAX)),
        ro("Type", s(NO_MAX)),
        ro("VatRate", s(NO_MAX)),
        ro("IsActive", B),
        ro("VatRatePercent", ANY_DEC),
        ro(
            "DomesticSalesSubjectToReversedConstructionVatAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "DomesticSalesSubjectToVatAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "DomesticSalesVatExemptAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "ForeignSalesSubjectToMossAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "ForeignSalesSubjectToThirdPartySalesAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "ForeignSalesSubjectToVatWithinEuAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "ForeignSalesVatExemptOutsideEuAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "ForeignSalesVatExemptWithinEuAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro(
            "DomesticSalesVatCodeExemptAccountNumber",
            Kind::Int(0, i64::MAX),
        ),
        ro("ChangedUtc", DT),
    ],
};

// ---------------------------------------------------------------------------
// Value helpers

/// Exact decimal of a JSON number. With serde_json's `arbitrary_precision`
/// the number keeps its source text, so `19.99` never passes through f64.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        _ => None,
    }
}

pub fn number(d: Decimal) -> Value {
    Number::from_str(&d.normalize().to_string())
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Money as the API shows it: two decimals, half away from zero.
pub fn money(d: Decimal) -> Value {
    number(round2(d))
}

pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.f]` (taken as UTC) or RFC 3339.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    // .NET's DateTime range.
    parse_any_datetime(s).filter(|dt| (1..=9999).contains(&dt.year()))
}

fn parse_any_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(ndt) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(ndt.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|ndt| ndt.and_utc())
}

/// Business dates come back as `YYYY-MM-DDT00:00:00` (no zone), like the API.
pub fn format_date(dt: DateTime<Utc>) -> String {
    dt.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub fn format_utc(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Validation messages collected while walking a body; reported together.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn add(&mut self, path: &str, field: &str, msg: impl AsRef<str>) {
        self.0.push(format!("{path}{field}: {}", msg.as_ref()));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_error(self) -> super::errors::ApiError {
        super::errors::ApiError::validation(format!(
            "DataModelValidationError - {}",
            self.0.join(" | ")
        ))
    }
}

fn lookup<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    // JSON.NET binds property names case-insensitively; so does the real API.
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Checks `body` against `schema` and returns the writable properties that
/// were sent, normalised (dates formatted, numbers exact). Read-only and
/// unknown properties are dropped, as the real API ignores them.
pub fn check(
    schema: &Schema,
    body: &Value,
    path: &str,
    problems: &mut Problems,
) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(obj) = body.as_object() else {
        problems.add(path, schema.name, "expected a JSON object");
        return out;
    };
    for f in schema.fields.iter().filter(|f| !f.read_only) {
        let value = lookup(obj, f.name).unwrap_or(&Value::Null);
        if value.is_null() {
            if f.required {
                problems.add(path, f.name, format!("The {} field is required.", f.name));
            }
            continue;
        }
        if let Some(v) = check_value(f, value, path, problems) {
            out.insert(f.name.to_string(), v);
        }
    }
    out
}

fn check_value(f: &Field, value: &Value, path: &str, problems: &mut Problems) -> Option<Value> {
    let name = f.name;
    let bad_type = |problems: &mut Problems, want: &str| {
        problems.add(path, name, format!("expected {want}, got {value}"));
        None
    };
    match f.kind {
        Kind::Str(max) => {
            let Some(text) = value.as_str() else {
                return bad_type(problems, "a string");
            };
            let len = utf16_len(text);
            if len > max {
                problems.add(
                    path,
                    name,
                    format!("The field {name} must be a string with a maximum length of {max} (got {len})."),
                );
                return None;
            }
            Some(value.clone())
        }
        Kind::Uuid => {
            let Some(text) = value.as_str() else {
                return bad_type(problems, "a GUID string");
            };
            match uuid::Uuid::parse_str(text) {
                Ok(id) => Some(Value::String(id.to_string())),
                Err(_) => bad_type(problems, "a GUID"),
            }
        }
        Kind::Bool => match value {
            Value::Bool(_) => Some(value.clone()),
            _ => bad_type(problems, "true or false"),
        },
        Kind::Int(min, max) => {
            let Some(d) = decimal_of(value) else {
                return bad_type(problems, "an integer");
            };
            if d.fract() != Decimal::ZERO {
                return bad_type(problems, "an integer");
            }
            let Some(i) = d.to_i64() else {
                return bad_type(problems, "an integer");
            };
            if i < min || i > max {
                problems.add(
                    path,
                    name,
                    format!("The field {name} must be between {min} and {max}."),
                );
                return None;
            }
            Some(Value::Number(i.into()))
        }
        Kind::Dec { min, max, scale } => {
            let Some(d) = decimal_of(value) else {
                return bad_type(problems, "a number");
            };
            if min.is_some_and(|m| d < Decimal::from(m))
                || max.is_some_and(|m| d > Decimal::from(m))
            {
                let lo = min.map_or("-inf".into(), |m| m.to_string());
                let hi = max.map_or("inf".into(), |m| m.to_string());
                problems.add(
                    path,
                    name,
                    format!("The field {name} must be between {lo} and {hi}."),
                );
                return None;
            }
            if let Some(scale) = scale {
                if d.normalize().scale() > scale {
                    problems.add(
                        path,
                        name,
                        format!("at most {scale} decimals are allowed (got {d})."),
                    );
                    return None;
                }
            }
            Some(number(d))
        }
        Kind::DateTime => {
            let Some(text) = value.as_str() else {
                return bad_type(problems, "a date string");
            };
            match parse_datetime(text) {
                Some(dt) => Some(Value::String(format_date(dt))),
                None => bad_type(problems, "a date (YYYY-MM-DD or ISO 8601)"),
            }
        }
        Kind::StrList => match value.as_array() {
            Some(items) if items.iter().all(Value::is_string) => Some(value.clone()),
            _ => bad_type(problems, "an array of strings"),
        },
        Kind::Json => match value {
            Value::Array(_) => Some(value.clone()),
            _ => bad_type(problems, "an array"),
        },
        Kind::Object => Some(value.clone()),
        Kind::Rows(row_schema) => {
            let Some(items) = value.as_array() else {
                return bad_type(problems, "an array");
            };
            let rows = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let row_path = format!("{path}{name}[{i}].");
                    Value::Object(check(row_schema, item, &row_path, problems))
                })
                .collect();
            Some(Value::Array(rows))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_and_max_length_are_reported_with_field_names() {
        let mut p = Problems::default();
        let body = json!({"Name": "x".repeat(51), "IsActive": true});
        check(&CUSTOMER, &body, "", &mut p);
        let all = p.0.join("\n");
        assert!(all.contains("Name: The field Name must be a string with a maximum length of 50"));
        assert!(all.contains("InvoiceCity: The InvoiceCity field is required."));
        assert!(all.contains("TermsOfPaymentId: The TermsOfPaymentId field is required."));
        assert!(!all.contains("IsActive"));
    }

    #[test]
    fn utf16_length_counts_like_dotnet() {
        // An emoji is two UTF-16 units: 25 of them fill a 50-unit field.
        let mut p = Problems::default();
        let body = json!({"Name": "😀".repeat(26), "IsActive": true, "Number": "A",
            "CodingId": uuid::Uuid::nil().to_string(), "UnitId": uuid::Uuid::nil().to_string()});
        check(&ARTICLE, &body, "", &mut p);
        assert_eq!(p.0.len(), 1, "{:?}", p.0);
    }

    #[test]
    fn decimals_are_exact_and_scale_checked() {
        let v: Value = serde_json::from_str("19.99").unwrap();
        assert_eq!(decimal_of(&v), Some(Decimal::new(1999, 2)));
        let mut p = Problems::default();
        let body: Value = serde_json::from_str(
            r#"{"IsActive":true,"Number":"A","Name":"B","CodingId":"00000000-0000-0000-0000-000000000000",
               "UnitId":"00000000-0000-0000-0000-000000000000","NetPrice":10.005,"GrossPrice":1.10}"#,
        )
        .unwrap();
        let out = check(&ARTICLE, &body, "", &mut p);
        assert_eq!(p.0.len(), 1, "{:?}", p.0);
        assert!(p.0[0].starts_with("NetPrice"));
        assert_eq!(out["GrossPrice"].to_string(), "1.1");
    }

    #[test]
    fn rows_get_indexed_paths_and_fraction_bounds() {
        let mut p = Problems::default();
        let body = json!({"CustomerId": uuid::Uuid::nil().to_string(), "EuThirdParty": false,
            "RotReducedInvoicingType": 0,
            "Rows": [{"IsTextRow": false, "ReversedConstructionServicesVatFree": false,
                      "DiscountPercentage": 1.5}]});
        check(&DRAFT, &body, "", &mut p);
        assert_eq!(
            p.0,
            vec![
                "Rows[0].DiscountPercentage: The field DiscountPercentage must be between 0 and 1."
            ]
        );
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            "-?[0-9]{1,30}(\\.[0-9]{1,30})?(e[0-9]{1,3})?"
                .prop_map(|n| serde_json::from_str(&n).unwrap_or(Value::Null)),
            "\\PC{0,60}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec![
                            "Rows",
                            "ArticleId",
                            "IsTextRow",
                            "Quantity",
                            "UnitPrice",
                            "Name",
                            "CustomerId"
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics(body in any_json()) {
            for schema in [&DRAFT, &ORDER, &INVOICE, &CUSTOMER, &ARTICLE, &VOUCHER] {
                let mut p = Problems::default();
                let _ = check(schema, &body, "", &mut p);
            }
        }
    }

    #[test]
    fn dates_normalise() {
        assert_eq!(
            format_date(parse_datetime("2025-01-31").unwrap()),
            "2025-01-31T00:00:00"
        );
        assert_eq!(
            format_utc(parse_datetime("2025-01-31T10:00:00+01:00").unwrap()),
            "2025-01-31T09:00:00.000Z"
        );
        assert!(parse_datetime("31-01-2025").is_none());
        assert!(parse_datetime("+10000-01-01T00:00:00Z").is_none());
    }
}
