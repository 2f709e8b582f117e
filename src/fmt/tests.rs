//! Before/after fixtures. Every fixture also goes through `check_invariants`:
//! idempotence, same AST and the same multiset of comments.

use super::{comment_texts, format_source};
use crate::source_map::FileId;

/// The AST's `Debug` text with every `Span { … }` blanked out. Comparing
/// these is a span-blind equality that keeps working when the AST grows new
/// fields, which a hand-written span eraser would silently skip.
pub(super) fn ast_without_spans(text: &str) -> Option<String> {
    let (file, diags) = crate::syntax::parse(FileId(0), text);
    if !diags.is_empty() {
        return None;
    }
    let debug = format!("{file:?}");
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span { file: ") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        match rest[at..].find('}') {
            Some(close) => rest = &rest[at + close + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    Some(out)
}

/// The three properties every formatted file must have; returns the output.
pub(super) fn check_invariants(input: &str) -> String {
    let once =
        format_source(input).unwrap_or_else(|d| panic!("input does not parse: {d:?}\n{input}"));
    let twice =
        format_source(&once).unwrap_or_else(|d| panic!("output does not parse: {d:?}\n{once}"));
    assert_eq!(
        once, twice,
        "not idempotent\n--- input\n{input}\n--- once\n{once}\n--- twice\n{twice}"
    );
    assert_eq!(
        ast_without_spans(input),
        ast_without_spans(&once),
        "AST changed\n--- input\n{input}\n--- once\n{once}"
    );
    assert_eq!(
        comment_texts(input),
        comment_texts(&once),
        "comments changed\n--- input\n{input}\n--- once\n{once}"
    );
    assert!(
        once.is_empty() || (once.ends_with('\n') && !once.ends_with("\n\n")),
        "bad final newline: {once:?}"
    );
    assert!(
        once.lines().all(|l| l == l.trim_end()),
        "trailing whitespace:\n{once}"
    );
    once
}

fn check(input: &str, expected: &str) {
    let got = check_invariants(input);
    assert_eq!(got, expected, "\n--- got\n{got}\n--- expected\n{expected}");
}

#[test]
fn declarations_spacing_and_blank_lines() {
    check(
        "import \"a.flow\"\nimport   \"b.flow\" as b\n\n\nimport \"c.flow\"\nlet   rate=21\nfn  net( a,b,)=a*(1+b/100)\nfn zero()=0\n\n\n\nlet s = \"x\"",
        "import \"a.flow\"\nimport \"b.flow\" as b\n\nimport \"c.flow\"\n\nlet rate = 21\n\nfn net(a, b) = a * (1 + b / 100)\n\nfn zero() = 0\n\nlet s = \"x\"\n",
    );
}

#[test]
fn empty_and_comment_only_files() {
    check("", "");
    check("  \n\n", "");
    check("# only\n\n\n# comments  \n", "# only\n\n# comments\n");
    check(
        "let a = 1\n# end\n\n\n# more",
        "let a = 1\n# end\n\n# more\n",
    );
    check(
        "let a = 1\r\n# crlf\r\nlet b = 2\r\n",
        "let a = 1\n\n# crlf\nlet b = 2\n",
    );
}

#[test]
fn operators_and_precedence() {
    check(
        "let a = 1+2*3-4/5%6\nlet b = (1+2)*3\nlet c = not a==b and c or d??e\nlet d = -x.y+ - 1\nlet e = a not  in [1,2] and b in c\nlet f = if a>=b then c<=d else e!=f\nlet g = ((a))\nlet h = x?.y[0].z\n",
        "let a = 1 + 2 * 3 - 4 / 5 % 6\n\nlet b = (1 + 2) * 3\n\nlet c = not a == b and c or d ?? e\n\nlet d = -x.y + -1\n\nlet e = a not in [1, 2] and b in c\n\nlet f = if a >= b then c <= d else e != f\n\nlet g = ((a))\n\nlet h = x?.y[0].z\n",
    );
}

#[test]
fn numbers_and_dates_print_as_written() {
    check(
        "let a = [12.50, 1_000, 007, 0.0]\nlet b = [@2024-01-31, @2024-01-31T12:00Z, @2024-01-31T12:00:00.5+01:00]\nlet c = [null, true, false]",
        "let a = [12.50, 1000, 7, 0.0]\n\nlet b = [@2024-01-31, @2024-01-31T12:00Z, @2024-01-31T12:00:00.5+01:00]\n\nlet c = [null, true, false]\n",
    );
}

#[test]
fn pipes_keep_their_spelling() {
    check(
        "let a = x|trim\nlet b = x | trim( )\nlet c = x|round(2)|string\nlet d = (a ?? b) | upper",
        "let a = x | trim\n\nlet b = x | trim()\n\nlet c = x | round(2) | string\n\nlet d = (a ?? b) | upper\n",
    );
}

#[test]
fn strings_escapes_and_interpolation() {
    check(
        r##"let a = "{a ?? ""}"
let b = "tab\there \"q\" back\\slash \{brace\} }"
let c = "{ {k: "v}"}.k } and {x | f("#")}#"
let d = "\u{1}\u{7f}é\u{1F600}\r"
let e = "multi
line""##,
        r##"let a = "{a ?? ""}"

let b = "tab\there \"q\" back\\slash \{brace\} \}"

let c = "{{k: "v\}"}.k} and {x | f("#")}#"

let d = "\u{1}\u{7f}é😀\r"

let e = "multi\nline"
"##,
    );
}

#[test]
fn record_keys() {
    check(
        "let a = {\"plain\": 1, \"with space\": 2, in: 3, \"\": 4, \"1x\": 5}",
        "let a = {plain: 1, \"with space\": 2, in: 3, \"\": 4, \"1x\": 5}\n",
    );
}

#[test]
fn long_records_lists_and_calls_wrap() {
    check(
        "let customer = {name: order.billing.first_name, email: order.billing.email, country: order.billing.country_code, vat: 21}\nlet l = [\"aaaaaaaaaaaaaaaaaaaa\", \"bbbbbbbbbbbbbbbbbbbbbbbbb\", \"cccccccccccccccccccccccccccc\", \"ddddddddddddd\"]\nlet c = concat(order.billing.first_name, \" \", order.billing.last_name, \" \", order.billing.company, order.city)",
        "let customer = {\n  name: order.billing.first_name,\n  email: order.billing.email,\n  country: order.billing.country_code,\n  vat: 21,\n}\n\nlet l = [\n  \"aaaaaaaaaaaaaaaaaaaa\",\n  \"bbbbbbbbbbbbbbbbbbbbbbbbb\",\n  \"cccccccccccccccccccccccccccc\",\n  \"ddddddddddddd\",\n]\n\nlet c = concat(\n  order.billing.first_name,\n  \" \",\n  order.billing.last_name,\n  \" \",\n  order.billing.company,\n  order.city,\n)\n",
    );
    // Only the containers that do not fit break; short ones inside stay flat.
    check(
        "let r = {lines: [1, 2, 3], customer: {name: order.billing.first_name, email: order.billing.email_address_x}}",
        "let r = {\n  lines: [1, 2, 3],\n  customer: {name: order.billing.first_name, email: order.billing.email_address_x},\n}\n",
    );
    // A broken record shrinks back when it fits again.
    check("let r = {\n  a: 1,\n  b: 2,\n}\n", "let r = {a: 1, b: 2}\n");
}

#[test]
fn table_rows_align() {
    check(
        "table vat { \"NL\" => 21\n\"BELGIUM\"=>21 # be\n  _ => 0 }\ntable empty {}\ntable t from \"x.csv\" key \"k\"  value \"v\" default 1",
        "table vat {\n  \"NL\"      => 21\n  \"BELGIUM\" => 21  # be\n  _         => 0\n}\n\ntable empty {}\n\ntable t from \"x.csv\" key \"k\" value \"v\" default 1\n",
    );
}

#[test]
fn schemas() {
    check(
        "schema Order resource \"orders\" key id cursor id { id : int readonly\n name: string(50) ? \nstatus: \"open\"|\"paid\" \n tags: list<string>\n qty: int range 0..1_000 readonly\n addr: ccvshop.address\n rec: {a: int b: list<{c: string}>}\n e: {} }",
        "schema Order resource \"orders\" key id cursor id {\n  id: int readonly\n  name: string(50)?\n  status: \"open\" | \"paid\"\n  tags: list<string>\n  qty: int readonly range 0..1000\n  addr: ccvshop.address\n  rec: {\n    a: int\n    b: list<{\n      c: string\n    }>\n  }\n  e: {}\n}\n",
    );
}

#[test]
fn connections() {
    check(
        "connection shop{base_url \"https://x\"\n\n\n  retries   3 timeout {seconds: 30}}",
        "connection shop {\n  base_url \"https://x\"\n\n  retries 3\n  timeout {seconds: 30}\n}\n",
    );
}

#[test]
fn flows_and_mapping_alignment() {
    check(
        "flow orders{source ccvshop.orders target file(\"out.ndjson\") as visma.invoices\nwhere o.paid\nkey o.id->ExternalId\no.name->Name\no.customer.email->Customer.Email\n\no.total->Total\n# own line\no.x->X\nlet t=1\no.y->Y\neach o.lines as l where l.qty>0->Rows{l.sku->Sku\nl.qty*l.price->Amount}\nupsert visma.customers as c match o.email->Email{o.name->Name}\non create{@2024-01-31->Date}\non update{o.note->Note}\non update keep Name,Customer.Email}",
        "flow orders {\n  source ccvshop.orders\n  target file(\"out.ndjson\") as visma.invoices\n  where o.paid\n  key o.id -> ExternalId\n  o.name           -> Name\n  o.customer.email -> Customer.Email\n\n  o.total -> Total\n  # own line\n  o.x -> X\n  let t = 1\n  o.y -> Y\n  each o.lines as l where l.qty > 0 -> Rows {\n    l.sku           -> Sku\n    l.qty * l.price -> Amount\n  }\n  upsert visma.customers as c match o.email -> Email {\n    o.name -> Name\n  }\n  on create {\n    @2024-01-31 -> Date\n  }\n  on update {\n    o.note -> Note\n  }\n  on update keep Name, Customer.Email\n}\n",
    );
    // A trailing comment does not end an alignment run.
    check(
        "flow f {\na -> A # one\nlong_name -> B\n}",
        "flow f {\n  a         -> A  # one\n  long_name -> B\n}\n",
    );
    check("flow f {}\nflow g {\n}", "flow f {}\n\nflow g {}\n");
}

#[test]
fn tests_blocks() {
    check(
        "test \"paid order\" { flow orders\n input {id: 1, status: \"paid\"}\n given visma.customers [{Email: \"a@b\"}]\n expect create visma.invoices {ExternalId: 1}\n expect update {a: 1}\n expect unchanged visma.x {}\n expect skip \"not paid\"\n expect error\n expect skip\n expect error \"boom\"}",
        "test \"paid order\" {\n  flow orders\n  input {id: 1, status: \"paid\"}\n  given visma.customers [{Email: \"a@b\"}]\n  expect create visma.invoices {ExternalId: 1}\n  expect update {a: 1}\n  expect unchanged visma.x {}\n  expect skip \"not paid\"\n  expect error\n  expect skip\n  expect error \"boom\"\n}\n",
    );
}

#[test]
fn comments_in_every_position() {
    let input = "# file header\n\n# doc for a\nlet a = 1 # trailing a\nflow f { # after brace\n  # leading stmt\n  x -> X # trailing stmt\n\n  # before each\n  each xs as x -> R { # each brace\n    # inner\n    x -> Y\n    # end of each\n  } # after each\n  # end of flow\n} # after flow\nschema S {\n  # field doc\n  a: int # field trailing\n  # end of schema\n}\ntable t {\n  # row doc\n  1 => 2 # row trailing\n}\nconnection c {\n  # setting doc\n  url \"x\" # setting trailing\n}\ntest \"t\" {\n  # test doc\n  flow f # flow trailing\n  input {a: 1} # input trailing\n}\nflow empty { # only a comment\n}\n# end of file\n";
    let expected = "# file header\n\n# doc for a\nlet a = 1  # trailing a\n\nflow f {  # after brace\n  # leading stmt\n  x -> X  # trailing stmt\n\n  # before each\n  each xs as x -> R {  # each brace\n    # inner\n    x -> Y\n    # end of each\n  }  # after each\n  # end of flow\n}  # after flow\n\nschema S {\n  # field doc\n  a: int  # field trailing\n  # end of schema\n}\n\ntable t {\n  # row doc\n  1 => 2  # row trailing\n}\n\nconnection c {\n  # setting doc\n  url \"x\"  # setting trailing\n}\n\ntest \"t\" {\n  # test doc\n  flow f  # flow trailing\n  input {a: 1}  # input trailing\n}\n\nflow empty {  # only a comment\n}\n# end of file\n";
    check(input, expected);
}

#[test]
fn comments_inside_expressions() {
    // A comment inside a record or list breaks it so the comment keeps its place.
    check(
        "let r = {a: 1, # one\n b: 2}\nlet l = [ # first\n 1,\n # two\n 2 ]\nlet c = f(x, # why\n y)",
        "let r = {\n  a: 1,  # one\n  b: 2,\n}\n\nlet l = [\n  # first\n  1,\n  # two\n  2,\n]\n\nlet c = f(\n  x,  # why\n  y,\n)\n",
    );
    // Inside an expression that cannot break, the comment moves after the line.
    check(
        "flow f {\n  a + # why\n  b -> X\n  c -> Y\n}\nlet s = \"{x # in interpolation\n}\"",
        "flow f {\n  a + b -> X\n  # why\n  c -> Y\n}\n\nlet s = \"{x}\"\n# in interpolation\n",
    );
    check("let e = [ # nothing\n]", "let e = [\n  # nothing\n]\n");
    check(
        "let e = f( # nothing\n) | g( # either\n)",
        "let e = f(\n  # nothing\n) | g(\n  # either\n)\n",
    );
}

#[test]
fn comment_like_text_in_strings_is_not_a_comment() {
    check(
        "let a = \"# not a comment\" # a comment\n",
        "let a = \"# not a comment\"  # a comment\n",
    );
}

#[test]
fn parse_errors_are_returned() {
    assert!(format_source("let = 1").is_err());
    assert!(format_source("flow f { x -> }").is_err());
    assert!(format_source("letx = 1").is_err());
}

#[test]
fn identifiers_that_start_with_keywords() {
    // Guards the grammar's keyword boundaries: `sourcex` is a variable, not
    // `source x`, and `a or_b` is not `a or _b`.
    check(
        "flow f { sourcex -> A\n notes -> B\n input_x->C\n where a == or_b\n ifx -> D }",
        "flow f {\n  sourcex -> A\n  notes   -> B\n  input_x -> C\n  where a == or_b\n  ifx -> D\n}\n",
    );
}

#[test]
fn deep_nesting_formats_or_is_refused_without_overflow() {
    // The parser recurses per level; these run on the formatter's own stack.
    for depth in [200usize, 256] {
        let parens = format!("let a = {}1{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(format_source(&parens).ok(), Some(format!("{parens}\n")));
        let lists = format!("let a = {}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(format_source(&lists).is_ok());
    }
    let too_deep = format!("let a = {}1{}", "(".repeat(257), ")".repeat(257));
    let err = format_source(&too_deep).expect_err("refused");
    assert_eq!(err[0].code.id, "E0007", "{:?}", err[0].message);
    // Long chains and prefix runs nest the AST without brackets: up to the
    // depth limit they format, beyond it they are refused.
    let chain = format!("let a = 1{}", " + 1".repeat(1000));
    assert_eq!(format_source(&chain).ok(), Some(format!("{chain}\n")));
    let too_long = format!("let a = 1{}", " + 1".repeat(100_000));
    let started = std::time::Instant::now();
    let err = format_source(&too_long).expect_err("refused");
    assert_eq!(err[0].code.id, "E0007");
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    let prefixes = format!("let a = {}1", "-".repeat(1000));
    assert_eq!(format_source(&prefixes).ok(), Some(format!("{prefixes}\n")));
}
