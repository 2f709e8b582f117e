//! HTML building blocks: escaping, the page frame with its inline style,
//! and small formatters. Every value that comes from a shop, a flow or the
//! state store goes through [`esc`]; markup is written only as literals in
//! this module and in `pages.rs`.

use chrono::{DateTime, Utc};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes text for a URL query value or path segment.
pub fn url(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A time as the dashboard shows it (UTC, to the second).
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration in milliseconds for people: `850 ms`, `12.3 s`, `4 min 05 s`.
pub fn duration_ms(ms: i64) -> String {
    match ms {
        ..=999 => format!("{} ms", ms.max(0)),
        1_000..=59_999 => format!("{}.{} s", ms / 1000, ms % 1000 / 100),
        _ => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// The navigation links: (path, label).
const NAV: [(&str, &str); 4] = [
    ("/", "Flows"),
    ("/runs", "Runs"),
    ("/activity", "Activity"),
    ("/dead-letters", "Dead letters"),
];

/// What the frame of a signed-in page needs besides its body.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The path of the current section, to mark its link.
    pub section: &'a str,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: &'a str,
    /// A message from the previous action (a retry), shown once.
    pub notice: Option<&'a str>,
}

/// A whole page: `body` is already HTML.
pub fn page(frame: &Frame, body: &str) -> String {
    let nav: String = NAV
        .iter()
        .map(|(path, label)| {
            let current = if *path == frame.section {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{path}\"{current}>{label}</a>")
        })
        .collect();
    let notice = frame
        .notice
        .map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", esc(n)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · flowc</title><style>{STYLE}</style></head>\n<body>\
         <header><strong>flowc</strong><nav>{nav}</nav>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button>Sign out</button></form></header>\n<main><h1>{title}</h1>{notice}\n{body}</main></body></html>\n",
        title = esc(frame.title),
        csrf = esc(frame.csrf),
    )
}

/// The sign-in page (no navigation: nothing else is reachable yet).
pub fn login_page(csrf: &str, user_and_password: bool, error: Option<&str>) -> String {
    let user = if user_and_password {
        "<label>User <input name=\"user\" autocomplete=\"username\" required autofocus></label>\
         <label>Password <input name=\"secret\" type=\"password\" autocomplete=\"current-password\" required></label>"
    } else {
        "<label>Token <input name=\"secret\" type=\"password\" autocomplete=\"current-password\" required autofocus></label>"
    };
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in · flowc</title><style>{STYLE}</style></head>\n<body class=\"login\"><main>\
         <h1>flowc</h1>{error}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{user}<button>Sign in</button></form>\
         </main></body></html>\n",
        csrf = esc(csrf),
    )
}

/// A table: `head` are column titles, each row's cells are already HTML.
pub fn table(head: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let head: String = head
        .iter()
        .map(|h| format!("<th>{}</th>", esc(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|cells| {
            let cells: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{cells}</tr>\n")
        })
        .collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>")
}

/// A label with a colour class: `ok`, `bad`, `warn` or `quiet`.
pub fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", esc(text))
}

/// Self-contained style: the dashboard loads nothing from elsewhere.
const STYLE: &str = "\
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#f6f7f9;--ok:#1f7a3a;--bad:#b42318;--warn:#9a6700;--accent:#2456c9}\
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.5rem;background:#1d2330;color:#fff}\
header nav{display:flex;gap:1rem;flex:1}header a{color:#cfd6e4;text-decoration:none}header a[aria-current]{color:#fff;border-bottom:2px solid #fff}\
header form{margin:0}header button{background:none;border:1px solid #8591a8;color:#cfd6e4;padding:.2rem .6rem}\
main{padding:1rem 1.5rem;max-width:80rem}h1{font-size:1.4rem;margin:.4rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}\
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}\
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}th{background:#eef0f4;font-weight:600}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}a{color:var(--accent)}\
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.85em;border:1px solid}\
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}.quiet{color:var(--muted)}\
.notice{background:#e8f3ec;border:1px solid #b5d9c0;padding:.5rem .8rem}.error{background:#fdecea;border:1px solid #f3b8b2;padding:.5rem .8rem}\
.empty{color:var(--muted)}code,pre{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}pre{white-space:pre-wrap;word-break:break-all;margin:0}\
form.search{display:flex;gap:.5rem;margin-bottom:1rem}input{font:inherit;padding:.3rem .5rem;border:1px solid var(--line)}\
button{font:inherit;padding:.3rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:.2rem;cursor:pointer}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;background:#fff;border:1px solid var(--line);padding:.6rem 1rem}dt{color:var(--muted)}dd{margin:0}\
figure{margin:0 0 1rem;background:#fff;border:1px solid var(--line);padding:.6rem}figcaption{color:var(--muted);font-size:.9em}\
body.login main{max-width:22rem;margin:10vh auto;background:#fff;border:1px solid var(--line);padding:1.5rem}\
body.login label{display:block;margin-bottom:.8rem}body.login input{display:block;width:100%;margin-top:.2rem}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn formats_durations() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(245_000), "4 min 05 s");
        assert_eq!(duration_ms(-5), "0 ms");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(url("CCV-1001 &x=<y>"), "CCV%2D1001%20%26x%3D%3Cy%3E");
    }
}
