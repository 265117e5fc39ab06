//! The write-merge sweep as a PNG: two panels over write_merge_ms, server CPU % per delivered
//! Gbit/s on top and p99 latency below; rtmp-edge as a line with points per I/O driver,
//! nginx-rtmp (which has no such setting) as a dashed reference line.
//!
//! Draws with plotters' bitmap backend; text uses a TrueType font read at run time (Debian's
//! fonts-dejavu-core by default), since plotters' own font lookup would need fontconfig.
//! Call order: [`sweep_png`] once, after the sweep's points are computed.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Point;

pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FAMILY: &str = "sans-serif";

/// Registers the font once per process; plotters keeps a `'static` reference to its bytes.
fn register_font(path: &Path) -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(path).map_err(|e| {
                format!(
                    "font {}: {e} (install fonts-dejavu-core or pass --font)",
                    path.display()
                )
            })?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
                .map_err(|_| format!("font {}: not a TrueType/OpenType font", path.display()))
        })
        .clone()
}

/// Colours of the rtmp-edge lines, one per I/O driver.
const LINE_COLOURS: [RGBColor; 4] = [BLUE, GREEN, MAGENTA, CYAN];

/// One rtmp-edge line: its legend name and points `(write_merge_ms, value)`.
type Line = (String, Vec<(f64, f64)>);

/// Draws the sweep: per named rtmp-edge line (one per I/O driver) its points, one per
/// write-merge value, and the nginx-rtmp reference.
pub fn sweep_png(
    path: &Path,
    font: &Path,
    players: usize,
    edge: &[(String, Vec<Point>)],
    nginx: Option<&Point>,
) -> Result<(), String> {
    register_font(font)?;
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!("rtmp-edge write_merge_ms sweep, {players} players (medians)");
    let root = root.titled(&title, (FAMILY, 26)).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(430);
    let series = |f: fn(&Point) -> f64| -> Vec<Line> {
        edge.iter()
            .map(|(name, points)| {
                let mut sorted: Vec<&Point> = points.iter().collect();
                sorted.sort_by_key(|p| p.write_merge_ms);
                let line = sorted
                    .iter()
                    .map(|p| (p.write_merge_ms.unwrap_or(0) as f64, f(p)))
                    .filter(|(_, y)| y.is_finite())
                    .collect();
                (name.clone(), line)
            })
            .collect()
    };
    panel(
        &top,
        "Server CPU per delivered Gbit/s",
        "CPU % of one core per Gbit/s",
        &series(|p| p.cpu_per_gbps),
        nginx.map(|n| n.cpu_per_gbps),
    )
    .map_err(|e| err(&e))?;
    panel(
        &bottom,
        "p99 end-to-end latency",
        "p99 latency (ms)",
        &series(|p| p.p99_ms),
        nginx.map(|n| n.p99_ms),
    )
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    edge: &[Line],
    nginx: Option<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all = || edge.iter().flat_map(|(_, line)| line.iter().copied());
    let x_max = all().map(|p| p.0).fold(10.0, f64::max);
    let y_max = all()
        .map(|p| p.1)
        .chain(nginx)
        .filter(|y| y.is_finite())
        .fold(1.0, f64::max)
        * 1.35; // headroom for the legend
    let x_range = -x_max * 0.03..x_max * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x_range.clone(), 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("write_merge_ms")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc(y_desc)
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 16))
        .draw()?;
    for ((name, line), colour) in edge.iter().zip(LINE_COLOURS.iter().cycle()) {
        let stroke = colour.stroke_width(3);
        chart
            .draw_series(LineSeries::new(line.iter().copied(), stroke))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 25, y)], stroke));
        chart.draw_series(
            line.iter()
                .map(|&(x, y)| Circle::new((x, y), 5, colour.filled())),
        )?;
    }
    if let Some(y) = nginx.filter(|y| y.is_finite()) {
        let red = RED.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x_range.start, y), (x_range.end, y)],
                12,
                8,
                red,
            ))?
            .label("nginx-rtmp (no write merge)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 25, y)], red));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{points, tests::fake};

    #[test]
    fn draws_a_sweep_with_fake_numbers() {
        let mut runs = Vec::new();
        for (wm, cpu, p99) in [
            (0, 80.0, 30.0),
            (10, 60.0, 35.0),
            (50, 45.0, 70.0),
            (100, 40.0, 120.0),
            (350, 36.0, 380.0),
        ] {
            runs.push(fake("rtmp-edge", Some(wm), 4000, cpu, p99));
        }
        runs.push(fake("nginx-rtmp", None, 4000, 90.0, 60.0));
        let pts = points(&runs);
        let (nginx, edge): (Vec<Point>, Vec<Point>) =
            pts.into_iter().partition(|p| p.server == "nginx-rtmp");
        let uring: Vec<Point> = edge
            .iter()
            .cloned()
            .map(|mut p| {
                p.cpu_per_gbps *= 0.8;
                p
            })
            .collect();
        let edge = vec![
            ("rtmp-edge (epoll)".to_string(), edge),
            ("rtmp-edge (uring)".to_string(), uring),
        ];
        let path = std::env::temp_dir().join(format!("rtmp-bench-plot-{}.png", std::process::id()));
        let font = Path::new(DEFAULT_FONT);
        if !font.exists() {
            eprintln!("skipped: {DEFAULT_FONT} is not installed");
            return;
        }
        sweep_png(&path, font, 4000, &edge, nginx.first()).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(
            png.len() > 10_000,
            "a plot with text and lines, not a blank image"
        );
        if std::env::var_os("RTMP_BENCH_KEEP_PLOT").is_none() {
            std::fs::remove_file(&path).unwrap();
        } else {
            eprintln!("plot kept at {}", path.display());
        }
    }
}
