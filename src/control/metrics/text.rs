//! A writer for the Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` once per
//! family, then its samples, label values escaped, histograms as cumulative `_bucket{le}`
//! series plus `_sum` and `_count`. Pure string building; no I/O.
use std::fmt::Write;

/// The content type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Builds one exposition. Call `family` before the samples of each family.
#[derive(Debug, Default)]
pub struct PromText {
    out: String,
}

impl PromText {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts family `name` (for counters, the name ends in `_total`).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A whole histogram family: `buckets` are `(upper bound, cumulative count)` in
    /// ascending order; the `+Inf` bucket is `count`.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut le = String::new();
        for &(bound, cumulative) in buckets {
            le.clear();
            push_value(&mut le, bound);
            self.sample(&bucket, &[("le", &le)], cumulative as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], count as f64);
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut p = PromText::new();
        p.single("x_total", Kind::Counter, "Things.\nMore \\ things.", 3.0);
        p.family("y", Kind::Gauge, "Y.");
        p.sample("y", &[("a", "q\"uo\\te\nd"), ("b", "2")], 0.25);
        p.sample("y", &[], f64::NAN);
        p.sample("y", &[], f64::INFINITY);
        p.sample("y", &[], 1e20);
        assert_eq!(
            p.finish(),
            "# HELP x_total Things.\\nMore \\\\ things.\n# TYPE x_total counter\nx_total 3\n\
             # HELP y Y.\n# TYPE y gauge\ny{a=\"q\\\"uo\\\\te\\nd\",b=\"2\"} 0.25\n\
             y NaN\ny +Inf\ny 100000000000000000000\n"
        );
    }

    #[test]
    fn histograms_have_cumulative_buckets_inf_sum_and_count() {
        let mut p = PromText::new();
        p.histogram("lat_seconds", "L.", &[(0.001, 1), (0.5, 4)], 1.25, 5);
        assert_eq!(
            p.finish(),
            "# HELP lat_seconds L.\n# TYPE lat_seconds histogram\n\
             lat_seconds_bucket{le=\"0.001\"} 1\nlat_seconds_bucket{le=\"0.5\"} 4\n\
             lat_seconds_bucket{le=\"+Inf\"} 5\nlat_seconds_sum 1.25\nlat_seconds_count 5\n"
        );
    }
}
