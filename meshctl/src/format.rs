//! Human output: aligned tables that fit 80 columns, human units and durations, and colour.
//!
//! Every table is cut to [`WIDTH`] columns: columns that may shrink lose characters, with an
//! ellipsis where they were cut (in the middle for addresses and ids, whose ends tell them
//! apart), the widest first, until the line fits. `--json` is the way to get every value whole.
//!
//! Colour (ANSI) is used only when stdout is a terminal, `--no-color` was not given and
//! `NO_COLOR` is unset or empty (see <https://no-color.org>). Hello histories are drawn with
//! blocks (`█` heard, `░` missed) on a terminal and as plain `1`/`0` otherwise, most recent first
//! as meshd reports them, so scripts and logs see the protocol's own characters.

use std::time::{Duration, SystemTime};

use control::{EventKind, Gateway, Neighbour, Peer, Route, Source, Status};

/// The width every table fits in.
pub const WIDTH: usize = 80;

/// Metric and cost that mean "unreachable" in Babel.
const INFINITY: u16 = 0xFFFF;

/// How output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colour.
    pub colour: bool,
    /// Block characters for hello histories.
    pub blocks: bool,
    /// The terminal's width, when stdout is a terminal that says (`terminal::width`).
    pub width: Option<usize>,
}

/// A cell's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Paint {
    #[default]
    Plain,
    Bold,
    Dim,
    Green,
    Red,
    Yellow,
}

impl Paint {
    fn code(self) -> Option<&'static str> {
        match self {
            Paint::Plain => None,
            Paint::Bold => Some("1"),
            Paint::Dim => Some("2"),
            Paint::Green => Some("32"),
            Paint::Red => Some("31"),
            Paint::Yellow => Some("33"),
        }
    }

    /// `text` in this colour if `colour`, else as is.
    pub fn apply(self, text: &str, colour: bool) -> String {
        match self.code() {
            Some(code) if colour && !text.is_empty() => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Where a column too wide for the line loses characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Never shrinks.
    Never,
    /// Keeps the start: names, messages.
    End,
    /// Keeps both ends: addresses, router-ids, endpoints.
    Middle,
}

#[derive(Debug, Clone)]
pub struct Column {
    header: &'static str,
    align: Align,
    cut: Cut,
    min: usize,
}

impl Column {
    pub fn left(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
            cut: Cut::Never,
            min: 0,
        }
    }

    pub fn right(header: &'static str) -> Column {
        Column {
            align: Align::Right,
            ..Column::left(header)
        }
    }

    /// May shrink down to `min` characters (never below the header's width), cut as `cut`.
    pub fn shrink(self, cut: Cut, min: usize) -> Column {
        Column { cut, min, ..self }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Cell {
    text: String,
    paint: Paint,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            paint: Paint::Plain,
        }
    }

    pub fn paint(self, paint: Paint) -> Cell {
        Cell { paint, ..self }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text)
    }
}

#[derive(Debug, Clone)]
struct Row {
    cells: Vec<Cell>,
    note: Option<Cell>,
}

/// A table: a header line and a line per row, columns two spaces apart, plus optional notes
/// printed on their own line under a row.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Row>,
    indent: usize,
}

const GAP: usize = 2;

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
            indent: 0,
        }
    }

    /// Starts every line with `indent` spaces.
    pub fn indent(mut self, indent: usize) -> Table {
        self.indent = indent;
        self
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(Row { cells, note: None });
    }

    /// Adds a line under the last row.
    pub fn note(&mut self, note: Cell) {
        if let Some(row) = self.rows.last_mut() {
            row.note = Some(note);
        }
    }

    /// The width of each column once the table is made to fit `max`.
    pub fn widths(&self, max: usize) -> Vec<usize> {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.rows
                    .iter()
                    .map(|r| r.cells.get(i).map_or(0, |c| width(&c.text)))
                    .fold(width(c.header), usize::max)
            })
            .collect();
        let floor: Vec<usize> = self
            .columns
            .iter()
            .zip(&widths)
            .map(|(c, &w)| match c.cut {
                Cut::Never => w,
                _ => c.min.max(width(c.header)).min(w),
            })
            .collect();
        let mut total =
            self.indent + widths.iter().sum::<usize>() + GAP * self.columns.len().saturating_sub(1);
        while total > max {
            let slack = (0..widths.len())
                .filter(|&i| widths[i] > floor[i])
                .max_by_key(|&i| (widths[i] - floor[i], i));
            match slack {
                Some(i) => {
                    widths[i] -= 1;
                    total -= 1;
                }
                None => break,
            }
        }
        widths
    }

    /// Whether every line fits `max` columns once the columns that may shrink have shrunk.
    pub fn fits(&self, max: usize) -> bool {
        let widths = self.widths(max);
        self.indent + widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1) <= max
    }

    /// The lines, header first, fitted to `max` columns.
    pub fn render(&self, max: usize, colour: bool) -> Vec<String> {
        let widths = self.widths(max);
        let header: Vec<Cell> = self
            .columns
            .iter()
            .map(|c| Cell::new(c.header).paint(Paint::Bold))
            .collect();
        let mut lines = vec![self.line(&header, &widths, colour)];
        for row in &self.rows {
            lines.push(self.line(&row.cells, &widths, colour));
            if let Some(note) = &row.note {
                let room = max.saturating_sub(self.indent + GAP);
                let text = fit(&note.text, room, Cut::End);
                lines.push(format!(
                    "{}{}",
                    " ".repeat(self.indent + GAP),
                    note.paint.apply(&text, colour)
                ));
            }
        }
        lines
    }

    fn line(&self, cells: &[Cell], widths: &[usize], colour: bool) -> String {
        let mut line = " ".repeat(self.indent);
        for (i, ((column, cell), &w)) in self.columns.iter().zip(cells).zip(widths).enumerate() {
            if i > 0 {
                line.push_str(&" ".repeat(GAP));
            }
            let cut = if column.cut == Cut::Never {
                Cut::End
            } else {
                column.cut
            };
            let text = fit(&cell.text, w, cut);
            let pad = " ".repeat(w - width(&text));
            let text = cell.paint.apply(&text, colour);
            match column.align {
                Align::Left => {
                    line.push_str(&text);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(&text);
                }
            }
        }
        line.truncate(line.trim_end().len());
        line
    }
}

/// Display width: every character meshctl prints (ASCII, `…`, `█`, `░`) is one column.
pub fn width(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to at most `max` columns, with `…` where characters were left out.
pub fn fit(text: &str, max: usize, cut: Cut) -> String {
    let len = width(text);
    if len <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    match cut {
        Cut::Never | Cut::End => text.chars().take(keep).chain(Some('…')).collect(),
        Cut::Middle => {
            let head = keep / 2;
            let tail = keep - head;
            let mut out: String = text.chars().take(head).collect();
            out.push('…');
            out.extend(text.chars().skip(len - tail));
            out
        }
    }
}

/// A WireGuard key shortened to its first 8 characters, or `-`.
pub fn short_key(key: Option<&str>) -> String {
    match key {
        Some(key) if width(key) > 8 => format!("{}…", key.chars().take(8).collect::<String>()),
        Some(key) => key.to_string(),
        None => "-".into(),
    }
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `23 MiB`, at most 8 characters.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1023.5 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A duration in at most two units: `42s`, `5m07s`, `3h05m`, `2d04h`.
pub fn duration(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// Seconds since something happened: `12s ago`, or `never`.
pub fn ago(s: Option<u64>) -> String {
    match s {
        Some(s) => format!("{} ago", duration(s)),
        None => "never".into(),
    }
}

/// A timeout for messages: `5 s`, `0.5 s`.
pub fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// A cost or metric, `inf` for Babel's infinity.
pub fn cost(c: u16) -> String {
    if c == INFINITY {
        "inf".into()
    } else {
        c.to_string()
    }
}

/// A hello history as blocks (`█` heard, `░` missed) or as meshd sent it.
pub fn hellos(history: &str, blocks: bool) -> String {
    if !blocks {
        return history.to_string();
    }
    history
        .chars()
        .map(|c| match c {
            '1' => '█',
            '0' => '░',
            c => c,
        })
        .collect()
}

/// `status` as label: value lines.
pub fn status(s: &Status, style: Style) -> Vec<String> {
    let rows = [
        ("router-id", s.router_id.clone()),
        ("public key", s.public_key.clone()),
        ("mesh address", s.mesh_address.clone()),
        ("version", s.version.clone()),
        ("uptime", duration(s.uptime_s)),
        ("seqno", s.seqno.to_string()),
        ("peers", s.peers.to_string()),
        ("neighbours", s.neighbours.to_string()),
        ("routes", s.routes.to_string()),
    ];
    let label = rows.iter().map(|(l, _)| width(l)).max().unwrap_or(0) + 1;
    rows.iter()
        .map(|(l, v)| {
            let room = WIDTH.saturating_sub(label + GAP);
            format!(
                "{}{}{}",
                Paint::Bold.apply(&format!("{l}:"), style.colour),
                " ".repeat(label + GAP - width(l) - 1),
                fit(v, room, Cut::Middle)
            )
        })
        .collect()
}

/// `neighbours`: one line per neighbour when the terminal is known to be wide enough for all
/// twelve values; otherwise (a narrow terminal, or output that is not a terminal) two lines per
/// neighbour, each line its own aligned table (link quality, then hellos, handshake, endpoint and
/// traffic), so they fit 80 columns.
pub fn neighbours(list: &[Neighbour], style: Style) -> Vec<String> {
    if list.is_empty() {
        return vec!["no neighbours".into()];
    }
    let quality = || {
        vec![
            Column::left("PEER"),
            Column::left("ADDRESS").shrink(Cut::Middle, 14),
            Column::right("RXCOST"),
            Column::right("TXCOST"),
            Column::right("COST"),
            Column::right("RTT"),
            // Routes of its that the import policy refuses now (docs/import-policy.md), and
            // new ones a route limit refused.
            Column::right("REFUSED"),
        ]
    };
    let session = || {
        vec![
            Column::left("HELLOS"),
            Column::left("HANDSHAKE"),
            Column::left("ENDPOINT").shrink(Cut::Middle, 14),
            Column::right("IN"),
            Column::right("OUT"),
        ]
    };
    let mut first = Table::new(quality());
    let mut second = Table::new(session()).indent(GAP);
    for n in list {
        let usable = n.cost != INFINITY;
        let cost_paint = if usable { Paint::Plain } else { Paint::Red };
        first.row(vec![
            Cell::new(short_key(n.peer.as_deref())).paint(Paint::Bold),
            Cell::new(&*n.address),
            Cell::new(cost(n.rxcost)),
            Cell::new(cost(n.txcost)),
            Cell::new(cost(n.cost)).paint(cost_paint),
            Cell::new(n.rtt_ms.map_or("-".into(), |r| format!("{r:.1} ms"))),
            // Updates a route limit refused (docs/import-policy.md) are rare and worth a look:
            // shown beside the policy's count only when there are any.
            Cell::new(if n.routes_over_limit > 0 {
                format!("{} +{} over limit", n.refused_routes, n.routes_over_limit)
            } else {
                n.refused_routes.to_string()
            })
            .paint(if n.routes_over_limit > 0 {
                Paint::Red
            } else if n.refused_routes > 0 {
                Paint::Yellow
            } else {
                Paint::Plain
            }),
        ]);
        let missed = n.hello_history.contains('0');
        second.row(vec![
            Cell::new(hellos(&n.hello_history, style.blocks)).paint(if missed {
                Paint::Yellow
            } else {
                Paint::Green
            }),
            Cell::new(ago(n.last_handshake_s)),
            Cell::new(n.endpoint.as_deref().unwrap_or("-")),
            Cell::new(bytes(n.rx_bytes)),
            Cell::new(bytes(n.tx_bytes)),
        ]);
    }
    if let Some(max) = style.width {
        let mut whole = Table::new(quality().into_iter().chain(session()).collect());
        for (a, b) in first.rows.iter().zip(&second.rows) {
            whole.row(a.cells.iter().chain(&b.cells).cloned().collect());
        }
        if whole.fits(max) {
            return whole.render(max, style.colour);
        }
    }
    let a = first.render(WIDTH, style.colour);
    let b = second.render(WIDTH, style.colour);
    a.into_iter().zip(b).flat_map(|(x, y)| [x, y]).collect()
}

/// The order routes are shown in: by prefix, and within a prefix best first (selected, then
/// lower metric, feasible before unfeasible, reachable before not).
pub fn sort_routes(routes: &mut [Route]) {
    routes.sort_by(|a, b| {
        a.prefix
            .cmp(&b.prefix)
            .then(b.selected.cmp(&a.selected))
            .then((a.metric == INFINITY).cmp(&(b.metric == INFINITY)))
            .then(b.feasible.cmp(&a.feasible))
            .then(a.metric.cmp(&b.metric))
            .then(a.router_id.cmp(&b.router_id))
    });
}

/// Whether a route is shown without `--all`: the ones in use.
pub fn shown_by_default(r: &Route) -> bool {
    r.selected || r.reason == "local"
}

/// Why a route lost, in words, or `None` for a route in use.
pub fn why_lost(r: &Route) -> Option<String> {
    let why = match r.reason.as_str() {
        "local" | "selected" => return None,
        "worse" => "worse: another route has a better metric".to_string(),
        "unfeasible" => {
            "unfeasible: it could create a loop (fails the feasibility condition)".to_string()
        }
        "unreachable" => "unreachable: retracted, or its link is down".to_string(),
        "refused" => format!(
            "refused: {}",
            r.refusal.as_deref().unwrap_or("by the import policy")
        ),
        other => other.to_string(),
    };
    Some(format!("└ lost: {why}"))
}

/// `routes`: one line per route; with `explain`, a line under each losing route saying why.
pub fn routes(list: &[Route], explain: bool, style: Style) -> Vec<String> {
    if list.is_empty() {
        return vec!["no routes".into()];
    }
    let mut table = Table::new(vec![
        Column::left("PREFIX").shrink(Cut::Middle, 18),
        Column::left("NEXT HOP").shrink(Cut::Middle, 12),
        Column::left("VIA"),
        Column::right("METRIC"),
        Column::right("SEQNO"),
        Column::left("ORIGIN").shrink(Cut::Middle, 11),
        Column::left("FLAGS"),
    ]);
    for r in list {
        let flags: String = [(r.selected, 'S'), (r.feasible, 'F'), (r.installed, 'I')]
            .iter()
            .map(|&(on, c)| if on { c } else { '-' })
            .collect();
        let paint = if r.selected {
            Paint::Green
        } else if r.metric == INFINITY {
            Paint::Red
        } else {
            Paint::Plain
        };
        table.row(vec![
            Cell::new(&*r.prefix).paint(if r.selected {
                Paint::Bold
            } else {
                Paint::Plain
            }),
            Cell::new(r.next_hop.as_deref().unwrap_or("local")),
            Cell::new(short_key(r.peer.as_deref())),
            Cell::new(cost(r.metric)).paint(paint),
            Cell::new(r.seqno.to_string()),
            Cell::new(&*r.router_id),
            Cell::new(flags).paint(paint),
        ]);
        // A refused route always says why: `--all` is where an operator looks for it.
        if explain || r.reason == "refused" {
            if let Some(why) = why_lost(r) {
                table.note(Cell::new(why).paint(Paint::Dim));
            }
        }
    }
    table.render(WIDTH, style.colour)
}

/// `sources`.
pub fn sources(list: &[Source], style: Style) -> Vec<String> {
    if list.is_empty() {
        return vec!["no sources".into()];
    }
    let mut table = Table::new(vec![
        Column::left("PREFIX").shrink(Cut::Middle, 18),
        Column::left("ORIGIN"),
        Column::right("SEQNO"),
        Column::right("METRIC"),
    ]);
    for s in list {
        table.row(vec![
            Cell::new(&*s.prefix),
            Cell::new(&*s.router_id),
            Cell::new(s.seqno.to_string()),
            Cell::new(cost(s.metric)),
        ]);
    }
    table.render(WIDTH, style.colour)
}

/// `peers`.
pub fn peers(list: &[Peer], style: Style) -> Vec<String> {
    if list.is_empty() {
        return vec!["no peers".into()];
    }
    let mut table = Table::new(vec![
        Column::left("KEY"),
        Column::left("ENDPOINT").shrink(Cut::Middle, 14),
        Column::left("STATE"),
        Column::left("HANDSHAKE"),
        Column::right("IN"),
        Column::right("OUT"),
        Column::left("ADDED"),
    ]);
    for p in list {
        table.row(vec![
            Cell::new(short_key(Some(&p.public_key))).paint(Paint::Bold),
            Cell::new(p.endpoint.as_deref().unwrap_or("-")),
            if p.up {
                Cell::new("up").paint(Paint::Green)
            } else {
                Cell::new("down").paint(Paint::Red)
            },
            Cell::new(ago(p.last_handshake_s)),
            Cell::new(bytes(p.rx_bytes)),
            Cell::new(bytes(p.tx_bytes)),
            if p.runtime {
                Cell::new("runtime").paint(Paint::Yellow)
            } else if p.discovered {
                Cell::new(format!(
                    "found {}",
                    p.interface.as_deref().unwrap_or("inbound")
                ))
                .paint(Paint::Green)
            } else {
                Cell::new("config")
            },
        ]);
    }
    table.render(WIDTH, style.colour)
}

/// `refused`.
pub fn refused(list: &[control::Refused], style: Style) -> Vec<String> {
    if list.is_empty() {
        return vec!["nobody was refused".into()];
    }
    let mut table = Table::new(vec![
        Column::left("KEY"),
        Column::left("REASON"),
        Column::left("WHERE").shrink(Cut::Middle, 12),
        Column::right("COUNT"),
        Column::left("LAST"),
    ]);
    for r in list {
        table.row(vec![
            Cell::new(short_key(Some(&r.public_key))).paint(Paint::Bold),
            Cell::new(&*r.reason).paint(Paint::Red),
            Cell::new(&*r.place),
            Cell::new(r.count.to_string()),
            Cell::new(ago(Some(r.last_seen_s))),
        ]);
    }
    table.render(WIDTH, style.colour)
}

/// `discovery`.
pub fn discovery(d: &control::Discovery, style: Style) -> Vec<String> {
    if d.patterns.is_empty() {
        return vec![format!(
            "discovery is off (no [discovery] interfaces); policy {}",
            d.policy
        )];
    }
    let community = if d.community_id.is_empty() {
        String::new()
    } else {
        format!(", community {}", d.community_id)
    };
    let mut lines = vec![
        format!(
            "policy {}{community}; interfaces {} on UDP {}",
            d.policy,
            d.patterns.join(" "),
            d.port
        ),
        format!(
            "discovered peers {} of {}; beacons heard {}",
            d.peers, d.max_peers, d.beacons_received
        ),
    ];
    if !d.dropped.is_empty() {
        let dropped: Vec<String> = d.dropped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        lines.push(format!("dropped: {}", dropped.join(", ")));
    }
    if d.interfaces.is_empty() {
        lines.push("no matching interface is up".into());
        return lines;
    }
    let mut table = Table::new(vec![
        Column::left("INTERFACE"),
        Column::left("LINK-LOCAL").shrink(Cut::Middle, 14),
        Column::right("BEACONS"),
        Column::right("SENT"),
    ]);
    for i in &d.interfaces {
        table.row(vec![
            Cell::new(&*i.name).paint(Paint::Bold),
            Cell::new(&*i.link_local),
            Cell::new(i.beacons_sent.to_string()),
            Cell::new(bytes(i.bytes_sent)),
        ]);
    }
    lines.extend(table.render(WIDTH, style.colour));
    lines
}

/// Prefixes announced by more than one origin (a clash: two nodes claim the same LAN, and Babel
/// sends each node's traffic to the nearer one), one warning line each. Default routes are left
/// out: several gateways announcing them is the normal case.
pub fn clashes(routes: &[Route]) -> Vec<String> {
    let mut origins: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for r in routes {
        if r.prefix.ends_with("/0") || (r.metric == INFINITY && r.reason != "local") {
            continue;
        }
        let list = origins.entry(&r.prefix).or_default();
        if !list.contains(&r.router_id.as_str()) {
            list.push(&r.router_id);
        }
    }
    origins
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(prefix, ids)| {
            let used = routes
                .iter()
                .find(|r| r.prefix == prefix && r.selected)
                .map_or("none", |r| r.router_id.as_str());
            format!(
                "warning: {prefix} is announced by {} origins ({}); traffic goes to the nearer \
                 one, {used}",
                ids.len(),
                ids.join(", ")
            )
        })
        .collect()
}

/// `gateways`: this node's policy, then one line per gateway.
pub fn gateways(
    sharing: Option<&str>,
    policy: &str,
    list: &[Gateway],
    counters: (u64, u64, u64),
    style: Style,
) -> Vec<String> {
    let mut out = vec![
        format!(
            "sharing: {}",
            sharing.map_or("no".to_string(), |s| format!("yes, uplink {s}"))
        ),
        format!("use:     {}", fit(policy, WIDTH - 9, Cut::Middle)),
        format!(
            "tunnel:  {} packets sent to gateways, {} received as one, {} dropped",
            counters.0, counters.1, counters.2
        ),
    ];
    if list.is_empty() {
        out.push("no gateways".into());
        return out;
    }
    let mut table = Table::new(vec![
        Column::left("GATEWAY").shrink(Cut::Middle, 11),
        Column::left("MESH ADDRESS").shrink(Cut::Middle, 14),
        Column::right("IPV6"),
        Column::right("IPV4"),
        Column::left("VIA"),
        Column::left("CHOSEN"),
        Column::right("FLOWS"),
    ]);
    for g in list {
        let name = match &g.public_key {
            Some(key) => short_key(Some(key)),
            None => g.router_id.clone(),
        };
        let chosen = match (g.chosen_v6, g.chosen_v4) {
            (true, true) => "v6 v4",
            (true, false) => "v6",
            (false, true) => "v4",
            (false, false) => "-",
        };
        table.row(vec![
            Cell::new(name).paint(Paint::Bold),
            Cell::new(&*g.mesh_address),
            Cell::new(g.metric_v6.map_or("-".to_string(), cost)),
            Cell::new(g.metric_v4.map_or("-".to_string(), cost)),
            Cell::new(short_key(g.via.as_deref())),
            Cell::new(chosen).paint(if chosen == "-" {
                Paint::Plain
            } else {
                Paint::Green
            }),
            Cell::new(g.flows.to_string()),
        ]);
    }
    out.extend(table.render(WIDTH, style.colour));
    out
}

/// One `monitor` line: when it arrived, the daemon's clock, and what happened.
pub fn event(received: SystemTime, time_s: f64, what: &EventKind, style: Style) -> String {
    let (text, paint) = match what {
        EventKind::NeighbourUp { link, address } => (
            format!("neighbour up    {address} link {link}"),
            Paint::Green,
        ),
        EventKind::NeighbourDown { link, address } => {
            (format!("neighbour down  {address} link {link}"), Paint::Red)
        }
        EventKind::NeighbourCost {
            link,
            address,
            cost: c,
        } => (
            format!("neighbour cost  {address} link {link} cost {}", cost(*c)),
            Paint::Plain,
        ),
        EventKind::RouteAdded {
            prefix,
            link,
            metric,
        } => (
            format!(
                "route added     {prefix} link {link} metric {}",
                cost(*metric)
            ),
            Paint::Green,
        ),
        EventKind::RouteChanged {
            prefix,
            link,
            metric,
        } => (
            format!(
                "route changed   {prefix} link {link} metric {}",
                cost(*metric)
            ),
            Paint::Yellow,
        ),
        EventKind::RouteWithdrawn { prefix } => (format!("route withdrawn {prefix}"), Paint::Red),
        EventKind::PeerUp { public_key, link } => (
            format!("peer up         {public_key} link {link}"),
            Paint::Green,
        ),
        EventKind::PeerDown { public_key, link } => (
            format!("peer down       {public_key} link {link}"),
            Paint::Red,
        ),
        EventKind::PeerRoamed {
            public_key,
            endpoint,
        } => (
            format!("peer roamed     {public_key} to {endpoint}"),
            Paint::Yellow,
        ),
        EventKind::PeerDiscovered {
            public_key,
            interface,
            endpoint,
        } => (
            format!("peer found      {public_key} on {interface} at {endpoint}"),
            Paint::Green,
        ),
        EventKind::PeerRefused {
            public_key,
            reason,
            place,
        } => (
            format!("peer refused    {public_key} on {place}: {reason}"),
            Paint::Red,
        ),
        EventKind::RouteRefused {
            prefix,
            router_id,
            link,
            reason,
            ..
        } => (
            format!("route refused   {prefix} from {router_id} link {link}: {reason}"),
            Paint::Red,
        ),
        EventKind::RouteLimit { link, peer, limit } => (
            format!(
                "route limit     {} link {link}: {limit} reached, new routes refused",
                peer.as_deref().unwrap_or("?")
            ),
            Paint::Red,
        ),
    };
    format!(
        "{}  {}  {}",
        Paint::Dim.apply(&control::time::rfc3339_utc(received), style.colour),
        Paint::Dim.apply(&format!("{time_s:>10.3}"), style.colour),
        paint.apply(&text, style.colour)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style {
        colour: false,
        blocks: false,
        width: None,
    };

    fn sample() -> Table {
        let mut t = Table::new(vec![
            Column::left("NAME"),
            Column::right("N"),
            Column::left("ADDRESS").shrink(Cut::Middle, 10),
        ]);
        t.row(vec!["a".into(), "1".into(), "fe80::1".into()]);
        t.row(vec!["bbbb".into(), "1234".into(), "x".into()]);
        t
    }

    #[test]
    fn columns_line_up() {
        let lines = sample().render(80, false);
        assert_eq!(
            lines,
            [
                "NAME     N  ADDRESS",
                "a        1  fe80::1",
                "bbbb  1234  x",
            ]
        );
    }

    #[test]
    fn colour_does_not_move_columns() {
        let mut t = Table::new(vec![Column::left("A"), Column::left("B")]);
        t.row(vec![Cell::new("xy").paint(Paint::Red), "z".into()]);
        let lines = t.render(80, true);
        assert_eq!(lines[1], "\x1b[31mxy\x1b[0m  z");
        assert_eq!(lines[0], "\x1b[1mA\x1b[0m   \x1b[1mB\x1b[0m");
    }

    #[test]
    fn wide_tables_shrink_to_fit() {
        let mut t = Table::new(vec![
            Column::left("PREFIX").shrink(Cut::Middle, 10),
            Column::left("ID").shrink(Cut::Middle, 8),
            Column::right("METRIC"),
        ]);
        t.row(vec![
            "2001:db8:1234:5678:9abc:def0:1234:5678/128".into(),
            "02:11:22:ff:fe:33:44:55:66:77:88:99".into(),
            "65535".into(),
        ]);
        let lines = t.render(50, false);
        assert!(lines.iter().all(|l| width(l) <= 50), "{lines:#?}");
        assert!(lines[1].starts_with("2001:db8:1"), "{}", lines[1]);
        assert!(lines[1].contains("5678/128"), "{}", lines[1]);
        assert!(lines[1].contains('…'));
        assert!(lines[1].ends_with("65535"));
    }

    #[test]
    fn tables_that_cannot_shrink_stay_whole() {
        let mut t = Table::new(vec![Column::left("A"), Column::left("B")]);
        t.row(vec!["x".repeat(50).into(), "y".repeat(50).into()]);
        assert_eq!(width(&t.render(80, false)[1]), 102);
    }

    #[test]
    fn fit_cuts_where_asked() {
        assert_eq!(fit("abcdef", 6, Cut::End), "abcdef");
        assert_eq!(fit("abcdefgh", 5, Cut::End), "abcd…");
        assert_eq!(fit("abcdefgh", 5, Cut::Middle), "ab…gh");
        assert_eq!(fit("abcdefgh", 0, Cut::Middle), "");
        assert_eq!(fit("abcdefgh", 1, Cut::Middle), "…");
        assert_eq!(short_key(Some("9mSg3Q1xAAAAAAAA=")), "9mSg3Q1x…");
        assert_eq!(short_key(None), "-");
    }

    #[test]
    fn units_are_human() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(20 * 1024 * 1024), "20 MiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(u64::MAX), "16 EiB");
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(307), "5m07s");
        assert_eq!(duration(3 * 3600 + 300), "3h05m");
        assert_eq!(duration(2 * 86400 + 4 * 3600 + 1), "2d04h");
        assert_eq!(ago(Some(12)), "12s ago");
        assert_eq!(ago(None), "never");
        assert_eq!(cost(65535), "inf");
        assert_eq!(hellos("1101", true), "██░█");
        assert_eq!(hellos("1101", false), "1101");
        assert_eq!(seconds(Duration::from_secs(5)), "5 s");
    }

    fn neighbour(i: u8) -> Neighbour {
        Neighbour {
            peer: Some(format!("{i}mSg3Q1xyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzy=")),
            link: u32::from(i),
            endpoint: Some(format!("[2001:db8:ffff:ffff:ffff:ffff:ffff:{i}]:51820")),
            address: format!("fe80::aaaa:bbbb:cccc:{i}"),
            rxcost: 96,
            txcost: 65535,
            rtt_ms: Some(1234.56),
            cost: 65535,
            hello_history: "1111111101111111".into(),
            last_handshake_s: Some(86399),
            rx_bytes: u64::MAX,
            tx_bytes: 1023,
            refused_routes: 0,
            routes: 0,
            routes_over_limit: 0,
        }
    }

    #[test]
    fn neighbours_fit_80_columns() {
        let lines = neighbours(&[neighbour(1), neighbour(2)], PLAIN);
        assert_eq!(lines.len(), 6);
        assert!(lines.iter().all(|l| width(l) <= WIDTH), "{lines:#?}");
        assert!(lines[2].starts_with("1mSg3Q1x…  fe80::aaaa:bbbb:cccc:1"));
        assert!(lines[3].starts_with("  1111111101111111  23h59m ago"));
        assert!(lines[3].ends_with("16 EiB  1023 B"), "{}", lines[3]);
        let blocks = neighbours(
            &[neighbour(1)],
            Style {
                colour: false,
                blocks: true,
                width: None,
            },
        );
        assert!(blocks[3].contains("████████░███████"));
    }

    #[test]
    fn routes_over_a_limit_show_beside_the_refused_ones() {
        let mut limited = neighbour(1);
        limited.refused_routes = 3;
        limited.routes_over_limit = 120;
        let lines = neighbours(&[limited, neighbour(2)], PLAIN);
        assert!(lines[2].ends_with("3 +120 over limit"), "{lines:#?}");
        assert!(lines[4].trim_end().ends_with(" 0"), "{lines:#?}");
        assert!(lines.iter().all(|l| width(l) <= WIDTH), "{lines:#?}");
    }

    #[test]
    fn neighbours_take_one_line_each_on_a_wide_terminal() {
        let wide = Style {
            width: Some(160),
            ..PLAIN
        };
        let lines = neighbours(&[neighbour(1), neighbour(2)], wide);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].starts_with("PEER "), "{}", lines[0]);
        assert!(lines[0].contains("  RTT  REFUSED  HELLOS "), "{}", lines[0]);
        assert!(lines[0].ends_with("  IN     OUT"), "{}", lines[0]);
        assert!(lines[1].starts_with("1mSg3Q1x…  fe80::aaaa:bbbb:cccc:1"));
        assert!(
            lines[1].contains("1111111101111111  23h59m ago"),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with("16 EiB  1023 B"), "{}", lines[1]);
        assert!(lines.iter().all(|l| width(l) <= 160), "{lines:#?}");
        // Too narrow for one line, even with addresses shortened: folded as without a width.
        let narrow = Style {
            width: Some(100),
            ..PLAIN
        };
        assert_eq!(
            neighbours(&[neighbour(1), neighbour(2)], narrow),
            neighbours(&[neighbour(1), neighbour(2)], PLAIN)
        );
    }

    fn route(prefix: &str, metric: u16, reason: &str) -> Route {
        Route {
            prefix: prefix.into(),
            next_hop: Some("fe80::1234:5678:9abc:def0".into()),
            peer: Some("9mSg3Q1xyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzy=".into()),
            link: Some(3),
            metric,
            advertised_metric: 0,
            seqno: 65000,
            router_id: "02:11:22:ff:fe:33:44:55".into(),
            selected: reason == "selected",
            feasible: reason != "unfeasible",
            installed: reason == "selected",
            reason: reason.into(),
            refusal: (reason == "refused").then(|| "overlaps lan0 192.0.2.0/24".into()),
        }
    }

    #[test]
    fn a_refused_route_says_why_even_unexplained() {
        let list = vec![
            route("192.0.2.0/25", 192, "refused"),
            route("192.0.3.0/24", 192, "worse"),
        ];
        let lines = routes(&list, false, PLAIN);
        assert_eq!(lines.len(), 1 + 2 + 1, "{lines:#?}");
        assert!(
            lines[2].contains("lost: refused: overlaps lan0 192.0.2.0/24"),
            "{lines:#?}"
        );
        assert!(lines.iter().all(|l| width(l) <= WIDTH), "{lines:#?}");
    }

    #[test]
    fn routes_fit_80_columns_and_explain() {
        let mut list = vec![
            route(
                "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128",
                65535,
                "unreachable",
            ),
            route(
                "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128",
                300,
                "unfeasible",
            ),
            route(
                "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128",
                256,
                "selected",
            ),
            route("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128", 280, "worse"),
        ];
        sort_routes(&mut list);
        let reasons: Vec<&str> = list.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons, ["selected", "worse", "unfeasible", "unreachable"]);
        let lines = routes(&list, true, PLAIN);
        assert!(lines.iter().all(|l| width(l) <= WIDTH), "{lines:#?}");
        assert_eq!(lines.len(), 1 + 4 + 3);
        assert!(lines[1].ends_with("SFI"));
        assert!(lines[3].contains("lost: worse"));
        assert!(lines[5].contains("lost: unfeasible"));
        assert!(lines[7].contains("lost: unreachable"));
    }

    #[test]
    fn clashes_name_every_origin_and_the_one_used() {
        let origin = |prefix: &str, metric: u16, reason: &str, id: &str| Route {
            router_id: id.into(),
            ..route(prefix, metric, reason)
        };
        let routes = vec![
            origin("fd00:c1a5::/64", 96, "selected", "00:00:00:00:00:00:00:01"),
            origin("fd00:c1a5::/64", 288, "worse", "00:00:00:00:00:00:00:03"),
            // The same origin twice (two neighbours) is no clash.
            origin("fd00:1::/64", 96, "selected", "00:00:00:00:00:00:00:01"),
            origin("fd00:1::/64", 192, "worse", "00:00:00:00:00:00:00:01"),
            // Gateways all announce the default route: no clash.
            origin("::/0", 96, "selected", "00:00:00:00:00:00:00:01"),
            origin("::/0", 192, "worse", "00:00:00:00:00:00:00:02"),
            // A retracted announcement is no longer a claim.
            origin("fd00:2::/64", 96, "selected", "00:00:00:00:00:00:00:01"),
            origin(
                "fd00:2::/64",
                65535,
                "unreachable",
                "00:00:00:00:00:00:00:02",
            ),
        ];
        assert_eq!(
            clashes(&routes),
            [
                "warning: fd00:c1a5::/64 is announced by 2 origins (00:00:00:00:00:00:00:01, \
              00:00:00:00:00:00:00:03); traffic goes to the nearer one, 00:00:00:00:00:00:00:01"
            ]
        );
    }

    #[test]
    fn gateways_fit_80_columns() {
        let gateway = Gateway {
            router_id: "02:11:22:ff:fe:33:44:55".into(),
            public_key: Some("9mSg3Q1xyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzy=".into()),
            mesh_address: "fd6d:6573:6800:dfbb:d7db:c556:9a4e:5878".into(),
            metric_v6: Some(96),
            metric_v4: Some(96),
            via: Some("O5/2OplKxyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyzyz=".into()),
            chosen_v6: true,
            chosen_v4: true,
            flows: 12,
        };
        let other = Gateway {
            public_key: None,
            chosen_v6: false,
            chosen_v4: false,
            metric_v4: None,
            flows: 0,
            ..gateway.clone()
        };
        let lines = gateways(None, "auto", &[gateway, other], (5, 0, 0), PLAIN);
        for line in &lines {
            assert!(width(line) <= 80, "{line}");
        }
        assert_eq!(lines[0], "sharing: no");
        assert_eq!(lines[1], "use:     auto");
        assert!(lines[4].starts_with("9mSg3Q1x…"), "{}", lines[4]);
        assert!(
            lines[4].contains("v6 v4") && lines[4].ends_with("12"),
            "{}",
            lines[4]
        );
        assert!(lines[5].starts_with("02:11:22:…:33:44:55"), "{}", lines[5]);
        assert!(lines[5].contains(" - "), "{}", lines[5]);
    }
}
