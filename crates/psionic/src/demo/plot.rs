//! The loss curve as a PNG: training loss per step and held-out loss at each
//! evaluation.

use plotters::prelude::*;
use std::path::Path;

/// The font is shipped in the binary so the plot renders the same on any machine.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

pub fn loss_curve(path: &Path, train: &[(usize, f64)], eval: &[(usize, f64)], title: &str) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| err(&"bad embedded font"))?;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let last = train.iter().chain(eval).map(|p| p.0).max().unwrap_or(1).max(1);
    let losses = train.iter().chain(eval).map(|p| p.1).filter(|l| l.is_finite());
    let (lo, hi) = losses.fold((f64::MAX, f64::MIN), |(a, b), l| (a.min(l), b.max(l)));
    let (lo, hi) = if lo < hi { (lo * 0.95, hi * 1.05) } else { (0.1, 10.0) };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..last, lo..hi)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("cross-entropy (nats/char)")
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(train.iter().copied(), BLUE.mix(0.6)))
        .map_err(|e| err(&e))?
        .label("train (batch)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(eval.iter().copied(), RED.stroke_width(2)).point_size(3))
        .map_err(|e| err(&e))?
        .label("held-out")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
