//! Plain SVG bar charts of the results, one value per bar, drawn without a plotting library.

use std::fmt::Write;

/// Horizontal bars, one per `(label, value)`, scaled to the largest value, each with its
/// figure printed beside it.
pub fn bars(title: &str, unit: &str, bars: &[(String, f64)]) -> String {
    const LABEL: f64 = 220.0;
    const WIDTH: f64 = 460.0;
    const ROW: f64 = 26.0;
    const TOP: f64 = 40.0;
    let largest = bars.iter().map(|(_, value)| *value).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let height = TOP + ROW * bars.len() as f64 + 10.0;
    let total = LABEL + WIDTH + 120.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="10" y="24" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let length = WIDTH * value / largest;
        let _ = writeln!(svg, r#"<text x="10" y="{}">{}</text>"#, y + 15.0, escape(label));
        let _ =
            writeln!(svg, r##"<rect x="{LABEL}" y="{y}" width="{length:.1}" height="{}" fill="#4a78b5"/>"##, ROW - 6.0);
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}">{} {}</text>"#,
            LABEL + length + 6.0,
            y + 15.0,
            figure(*value),
            unit
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A value with as many decimals as its size needs.
fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Text safe inside SVG elements.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_show_their_figures() {
        let svg = bars("Acked <pub/s>", "msg/s", &[("A".into(), 100.0), ("B".into(), 50.0)]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains(r#"width="460.0""#) && svg.contains(r#"width="230.0""#), "{svg}");
        assert!(svg.contains("Acked &lt;pub/s&gt;"));
        assert!(svg.contains("50.00 msg/s"));
    }

    #[test]
    fn all_zero_values_draw_empty_bars() {
        let svg = bars("t", "ms", &[("A".into(), 0.0)]);
        assert!(svg.contains(r#"width="0.0""#), "{svg}");
    }
}
