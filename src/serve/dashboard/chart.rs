//! The records-and-failures-per-day chart, drawn as inline SVG (no script,
//! no external asset): one pair of bars per day, records processed and
//! records failed, with the numbers as text for those who cannot see bars.

use chrono::NaiveDate;

use super::html::esc;
use crate::state::DayCounts;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 170;
const TOP: u32 = 16;
const BOTTOM: u32 = 28;

/// A chart of `days` consecutive days ending with `last`, from `counts`
/// (days missing from it had no activity).
pub fn per_day(counts: &[DayCounts], last: NaiveDate, days: u32) -> String {
    let series: Vec<(NaiveDate, u64, u64)> = (0..days)
        .rev()
        .filter_map(|back| last.checked_sub_days(chrono::Days::new(u64::from(back))))
        .map(|day| {
            let c = counts.iter().find(|c| c.day == day);
            let records = c.map_or(0, |c| c.written + c.unchanged + c.failed);
            (day, records, c.map_or(0, |c| c.failed))
        })
        .collect();
    let max = series.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let slot = WIDTH / days.max(1);
    let bar = (slot.saturating_sub(6) / 2).max(1);
    let plot = HEIGHT - TOP - BOTTOM;
    let height = |n: u64| (n * u64::from(plot)).div_ceil(max) as u32;
    let mut bars = String::new();
    for (i, (day, records, failed)) in series.iter().enumerate() {
        let x = i as u32 * slot + 3;
        let label = day.format("%m-%d").to_string();
        let (hr, hf) = (height(*records), height(*failed));
        bars.push_str(&format!(
            "<g><title>{day}: {records} records, {failed} failed</title>\
             <rect class=\"records\" x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{hr}\"/>\
             <rect class=\"failed\" x=\"{}\" y=\"{}\" width=\"{bar}\" height=\"{hf}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            TOP + plot - hr,
            x + bar,
            TOP + plot - hf,
            x + bar,
            HEIGHT - 10,
            esc(&label),
        ));
    }
    let total: u64 = series.iter().map(|s| s.1).sum();
    let failed: u64 = series.iter().map(|s| s.2).sum();
    format!(
        "<figure><svg role=\"img\" aria-labelledby=\"chart-title\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"chart-title\">Records and failures per day, last {days} days</title>\
         <style>.records{{fill:#2456c9}}.failed{{fill:#b42318}}text{{font:10px sans-serif;fill:#5b6475;text-anchor:middle}}</style>\
         <line x1=\"0\" x2=\"{WIDTH}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#d9dde5\"/>{bars}</svg>\
         <figcaption><span class=\"legend\" style=\"color:#2456c9\">■</span> records \
         <span class=\"legend\" style=\"color:#b42318\">■</span> failed · \
         last {days} days (UTC): {total} records, {failed} failed, busiest day {max}</figcaption></figure>",
        base = TOP + plot,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_pair_of_bars_per_day_scaled_to_the_busiest() {
        let last = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let counts = [
            DayCounts {
                day: NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
                written: 30,
                unchanged: 8,
                failed: 2,
            },
            DayCounts {
                day: last,
                written: 10,
                unchanged: 0,
                failed: 10,
            },
        ];
        let svg = per_day(&counts, last, 3);
        assert_eq!(svg.matches("class=\"records\"").count(), 3);
        assert!(svg.contains("<title>2026-03-08: 0 records, 0 failed</title>"));
        assert!(svg.contains("<title>2026-03-09: 40 records, 2 failed</title>"));
        // The busiest day fills the plot (170 - 16 - 28 = 126 high).
        assert!(
            svg.contains("y=\"16\" width=\"163\" height=\"126\""),
            "{svg}"
        );
        assert!(svg.contains("60 records, 12 failed, busiest day 40"));
    }
}
