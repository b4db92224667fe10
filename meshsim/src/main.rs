//! The `meshsim` command: parses arguments by hand, runs one [`meshsim::Scenario`], prints the
//! report as `key: value` lines and exits 0 only if no forwarding loop, no unfeasible route and
//! no stale route was seen (1 otherwise, 2 for bad arguments).

use std::process::ExitCode;
use std::time::Duration;

use meshsim::chaos::Kind;
use meshsim::{Action, Scenario, SimConfig, Topology};

const USAGE: &str = "\
usage: meshsim --nodes N --topology line|ring|grid|geometric --seed S [options]

Simulates N nodes of the meshd Babel core on point-to-point links in virtual time, checks after
every event that forwarding (longest-prefix match over every node's table) never loops and every
selected route is feasible, and once a second that no node keeps a route to a prefix whose
origins it cannot reach past route expiry and hold time; prints measurements as `key: value`
lines. Exit status: 0 if loops, infeasible and stale_routes are all 0, 1 if not, 2 for bad
arguments.

options:
  --nodes N              number of nodes (>= 1)
  --topology T           line, ring, grid (closest to square, 4-neighbour) or geometric
                         (random geometric graph, mean degree about 6, made connected)
  --seed S               seed for everything random (u64)
  --loss P               per-packet drop probability of each link direction, as a FRACTION
                         in [0, 1] (0.01 means 1%); default 0
  --delay-ms MIN-MAX     one-way delay of each link, drawn once per link uniformly in
                         [MIN, MAX] milliseconds (or a single value); default 1-20
  --cut-fraction F       after convergence and the 60 s steady-state window, cut this fraction
                         of links (keeping the graph connected) and measure repair; default 0
  --crash-fraction F     likewise crash this fraction of nodes (state lost), restarting them
                         after --restart-after seconds; default 0
  --restart-after S      seconds between crash and restart; default 30
  --restart-with-seqno   crashed nodes restart with the seqno they had (as meshd persists
                         it) instead of a fresh random one
  --gateways K           K nodes (seeded choice) also announce ::/0, as meshd gateways do
  --anycast K            K nodes (seeded choice) also announce one anycast /128
  --chaos N              after the other measurements, apply N random faults (seeded), then
                         heal everything and measure chaos_repair_s; default 0
  --chaos-kinds LIST     comma-separated fault kinds to draw from; default all of: cut, heal,
                         one-way (one end stops hearing the other), burst (0.2-3.2 s of total
                         loss on a link), cost (a link's cost changes), flap (a link goes down
                         and up 1-5 times), crash, restart (a crashed node, without state),
                         restart-seqno (likewise, keeping its seqno), router-id (a node
                         restarts under a new router-id), withdraw (an origin stops announcing
                         a prefix), announce (it announces again, or a node becomes a new
                         origin of a shared prefix)
  --chaos-wait-ms MIN-MAX  virtual milliseconds between chaos faults; default 1000-10000
  --event T:FAULT        one fault at virtual second T (repeatable), FAULT one of: cut:L,
                         heal:L, one-way:L:END (link L's end 0 or 1 is no longer heard),
                         burst:L:MS, cost:L:RXCOST, flap:L:PERIOD_MS:TIMES, crash:N,
                         restart:N, restart-seqno:N, reboot:N, reboot-seqno:N, router-id:N,
                         withdraw:N:P, announce:N:P (L a link, N a node, P a prefix number:
                         node i's /128 is i, then ::/0 if --gateways, then the anycast /128)
  --duration S           stop at this virtual time (seconds); default: when all measurements
                         are done plus 30 s, at most 300 s
  --hello-interval S     Babel Hello interval in seconds (default: the core's)
  --update-interval S    Babel full-update interval in seconds (default: the core's)
  -h, --help             print this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let scenario = match parse(&args) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("meshsim: {message}");
            eprintln!("try `meshsim --help`");
            return ExitCode::from(2);
        }
    };
    let (report, sim) = match scenario.run() {
        Ok(r) => r,
        Err(message) => {
            eprintln!("meshsim: {message}");
            return ExitCode::from(2);
        }
    };
    print!("{report}");
    for violation in &report.violations {
        eprintln!("violation: {violation}");
    }
    if report.optimal_s.is_none() {
        for (node, destination, metric, shortest) in sim.optimality_violations(5) {
            eprintln!(
                "not optimal at the end: node {node} to {destination}: metric {metric}, shortest path {shortest}"
            );
        }
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn parse(args: &[String]) -> Result<Scenario, String> {
    let mut nodes: Option<usize> = None;
    let mut topology: Option<Topology> = None;
    let mut seed: Option<u64> = None;
    let mut loss = 0.0;
    let mut delay = (1, 20);
    let mut cut_fraction = 0.0;
    let mut crash_fraction = 0.0;
    let mut restart_after = Duration::from_secs(30);
    let mut duration = None;
    let mut hello_interval = None;
    let mut update_interval = None;
    let mut restart_keeping_seqno = false;
    let mut gateways = 0;
    let mut anycast = 0;
    let mut chaos = 0;
    let mut chaos_kinds = Kind::ALL.to_vec();
    let mut chaos_wait_ms = (1000, 10_000);
    let mut events = Vec::new();

    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--nodes" => {
                let n = parse_number::<usize>(flag, value()?)?;
                if n == 0 {
                    return Err("--nodes must be at least 1".into());
                }
                nodes = Some(n);
            }
            "--topology" => topology = Some(value()?.parse()?),
            "--seed" => seed = Some(parse_number(flag, value()?)?),
            "--loss" => {
                loss = parse_fraction(flag, value()?)?;
            }
            "--delay-ms" => delay = parse_delay(value()?)?,
            "--cut-fraction" => cut_fraction = parse_fraction(flag, value()?)?,
            "--crash-fraction" => crash_fraction = parse_fraction(flag, value()?)?,
            "--restart-after" => restart_after = parse_seconds(flag, value()?)?,
            "--duration" => duration = Some(parse_seconds(flag, value()?)?),
            "--hello-interval" => hello_interval = Some(parse_seconds(flag, value()?)?),
            "--update-interval" => update_interval = Some(parse_seconds(flag, value()?)?),
            "--restart-with-seqno" => restart_keeping_seqno = true,
            "--gateways" => gateways = parse_number(flag, value()?)?,
            "--anycast" => anycast = parse_number(flag, value()?)?,
            "--chaos" => chaos = parse_number(flag, value()?)?,
            "--chaos-kinds" => {
                chaos_kinds = value()?
                    .split(',')
                    .map(|k| k.trim().parse())
                    .collect::<Result<Vec<Kind>, String>>()?;
            }
            "--chaos-wait-ms" => chaos_wait_ms = parse_range(flag, value()?)?,
            "--event" => events.push(parse_event(value()?)?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let nodes = nodes.ok_or("--nodes is required")?;
    let topology = topology.ok_or("--topology is required")?;
    let seed = seed.ok_or("--seed is required")?;

    if gateways > nodes || anycast > nodes {
        return Err(format!(
            "--gateways and --anycast can be at most --nodes ({nodes})"
        ));
    }
    let mut config = SimConfig::new(nodes, topology, seed)
        .with_gateways(gateways)
        .with_anycast(anycast);
    config.loss = loss;
    config.delay_ms = delay;
    for (flag, interval) in [
        ("--hello-interval", hello_interval),
        ("--update-interval", update_interval),
    ] {
        if interval.is_some_and(|i| i.is_zero()) {
            return Err(format!("{flag} must be positive"));
        }
    }
    if let Some(interval) = hello_interval {
        config.babel.hello_interval = interval;
        config.babel.ihu_interval = interval * 3;
    }
    if let Some(interval) = update_interval {
        config.babel.update_interval = interval;
    }
    let mut scenario = Scenario::new(config);
    scenario.cut_fraction = cut_fraction;
    scenario.crash_fraction = crash_fraction;
    scenario.restart_after = restart_after;
    scenario.duration = duration;
    scenario.restart_keeping_seqno = restart_keeping_seqno;
    scenario.chaos = chaos;
    scenario.chaos_kinds = chaos_kinds;
    scenario.chaos_wait_ms = chaos_wait_ms;
    scenario.events = events;
    Ok(scenario)
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a non-negative integer"))
}

fn parse_fraction(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        Ok(f) if f > 1.0 && f <= 100.0 => Err(format!(
            "{flag}: {value} is out of range: give a fraction in [0, 1] ({} for {value}%)",
            f / 100.0
        )),
        _ => Err(format!("{flag}: `{value}` is not a fraction in [0, 1]")),
    }
}

fn parse_seconds(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=1e9).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{flag}: `{value}` is not a number of seconds")),
    }
}

/// `T:KIND:ARGS`, as `--help` lists them.
fn parse_event(value: &str) -> Result<(Duration, Action), String> {
    let bad = |why: &str| format!("--event: `{value}`: {why}");
    let mut parts = value.split(':');
    let at = parts.next().unwrap_or_default();
    let at = parse_seconds("--event", at)?;
    let kind = parts.next().ok_or_else(|| bad("no fault"))?;
    let numbers = parts
        .map(|p| p.parse::<u64>().map_err(|_| bad("arguments are numbers")))
        .collect::<Result<Vec<u64>, String>>()?;
    let want = |n: usize| -> Result<(), String> {
        if numbers.len() == n {
            Ok(())
        } else {
            Err(bad(&format!("`{kind}` takes {n} number(s)")))
        }
    };
    let arg = |i: usize| numbers[i] as usize;
    let action = match kind {
        "cut" | "heal" | "crash" | "restart" | "restart-seqno" | "reboot" | "reboot-seqno"
        | "router-id" => {
            want(1)?;
            match kind {
                "cut" => Action::CutLink(arg(0)),
                "heal" => Action::HealLink(arg(0)),
                "crash" => Action::Crash(arg(0)),
                "restart" => Action::Restart(arg(0)),
                "restart-seqno" => Action::RestartKeepingSeqno(arg(0)),
                "reboot" => Action::Reboot {
                    node: arg(0),
                    keep_seqno: false,
                },
                "reboot-seqno" => Action::Reboot {
                    node: arg(0),
                    keep_seqno: true,
                },
                _ => Action::ChangeRouterId(arg(0)),
            }
        }
        "one-way" => {
            want(2)?;
            if numbers[1] > 1 {
                return Err(bad("a link's end is 0 or 1"));
            }
            Action::OneWay {
                link: arg(0),
                from: numbers[1] as u8,
            }
        }
        "burst" => {
            want(2)?;
            Action::Burst {
                link: arg(0),
                millis: numbers[1],
            }
        }
        "cost" => {
            want(2)?;
            Action::SetCost {
                link: arg(0),
                rxcost: u16::try_from(numbers[1]).map_err(|_| bad("a cost is at most 65535"))?,
            }
        }
        "flap" => {
            want(3)?;
            Action::Flap {
                link: arg(0),
                period_ms: numbers[1],
                times: u32::try_from(numbers[2]).map_err(|_| bad("too many flaps"))?,
            }
        }
        "withdraw" | "announce" => {
            want(2)?;
            let (node, prefix) = (arg(0), arg(1));
            if kind == "withdraw" {
                Action::Withdraw { node, prefix }
            } else {
                Action::Announce { node, prefix }
            }
        }
        _ => return Err(bad("unknown fault")),
    };
    Ok((at, action))
}

fn parse_delay(value: &str) -> Result<(u64, u64), String> {
    parse_range("--delay-ms", value)
}

fn parse_range(flag: &str, value: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{flag}: `{value}` is not MIN-MAX in milliseconds (e.g. 1-20)");
    let (low, high) = match value.split_once('-') {
        Some((low, high)) => (low, high),
        None => (value, value),
    };
    let low: u64 = low.trim().parse().map_err(|_| bad())?;
    let high: u64 = high.trim().parse().map_err(|_| bad())?;
    if low > high || high > 3_600_000 {
        return Err(bad());
    }
    Ok((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_and_rejects() {
        let s = parse(&args(
            "--nodes 10 --topology grid --seed 3 --loss 0.01 --delay-ms 2-5 --cut-fraction 0.1",
        ))
        .unwrap();
        assert_eq!(s.sim.nodes, 10);
        assert_eq!(s.sim.delay_ms, (2, 5));
        assert_eq!(s.sim.loss, 0.01);
        assert!(parse(&args("--nodes 10 --topology grid")).is_err());
        assert!(parse(&args("--nodes x --topology grid --seed 1")).is_err());
        assert!(parse(&args("--nodes 3 --topology star --seed 1")).is_err());
        assert!(parse(&args("--nodes 3 --topology ring --seed 1 --loss 5")).is_err());
        assert!(parse(&args("--nodes 3 --topology ring --seed 1 --delay-ms 5-1")).is_err());
        assert!(parse(&args("--nodes 3 --topology ring --seed 1 --bogus")).is_err());
        assert!(parse(&args("--nodes 3 --topology ring --seed")).is_err());
        let s = parse(&args(
            "--nodes 10 --topology ring --seed 1 --gateways 2 --anycast 3 --chaos 5 \
             --chaos-kinds one-way,burst,router-id --chaos-wait-ms 100-200 --restart-with-seqno",
        ))
        .unwrap();
        assert_eq!(s.sim.shared.len(), 2);
        assert_eq!(s.sim.shared[0].origins.len(), 2);
        assert_eq!(s.sim.shared[1].origins.len(), 3);
        assert_eq!(s.chaos, 5);
        assert_eq!(
            s.chaos_kinds,
            vec![Kind::OneWay, Kind::Burst, Kind::RouterId]
        );
        assert_eq!(s.chaos_wait_ms, (100, 200));
        assert!(s.restart_keeping_seqno);
        assert!(parse(&args(
            "--nodes 3 --topology ring --seed 1 --chaos-kinds cut,nope"
        ))
        .is_err());
        assert!(parse(&args("--nodes 3 --topology ring --seed 1 --gateways 4")).is_err());
        let s = parse(&args(
            "--nodes 6 --topology ring --seed 1 --event 30.1:withdraw:4:4 --event 40:one-way:2:1 \
             --event 50:flap:1:2000:3",
        ))
        .unwrap();
        assert_eq!(
            s.events,
            vec![
                (
                    Duration::from_millis(30100),
                    Action::Withdraw { node: 4, prefix: 4 }
                ),
                (Duration::from_secs(40), Action::OneWay { link: 2, from: 1 }),
                (
                    Duration::from_secs(50),
                    Action::Flap {
                        link: 1,
                        period_ms: 2000,
                        times: 3
                    }
                ),
            ]
        );
        for bad in [
            "30",
            "30:cut",
            "30:cut:x",
            "30:one-way:1:2",
            "30:warp:1",
            "x:cut:1",
        ] {
            assert!(
                parse(&args(&format!(
                    "--nodes 3 --topology ring --seed 1 --event {bad}"
                )))
                .is_err(),
                "{bad}"
            );
        }
    }
}
