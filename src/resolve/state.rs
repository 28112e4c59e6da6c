//! The resolution algorithm: depth-first over the chosen packages'
//! `Pre-Depends` then `Depends` (as apt's `MarkInstall`), choosing for each unmet alternative group
//! the first alternative that can be met (Debian Policy §7.1, §7.5; apt's
//! "first alternative that can be satisfied"), with:
//!
//! - a real package of the name before packages that only Provide it;
//! - the highest version that meets every hard constraint known on that
//!   name (single-alternative dependencies of chosen packages, pins), so
//!   pairs like `foo (>= V), foo (<< V.1~)` settle on one version;
//! - Conflicts and Breaks checked both ways against the chosen set;
//! - `name:any` met only by a `Multi-Arch: allowed` package;
//! - providers ranked by Priority, then the spec's `prefer:`; a tie is an
//!   error asking for `prefer:`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use debian_packaging::dependency::{DependencyList, SingleDependency};

use super::{
    applies_to_arch, base_name, package_satisfies, priority_rank, satisfies_version, Dropped, Edge, Request,
    Resolution, ResolveError, Universe,
};
use crate::repo::BinaryPackage;
use crate::version::Version;

type Provides = Vec<(String, Option<Version>)>;

/// A chosen package with its parsed relationship fields.
struct Chosen {
    pkg: Arc<BinaryPackage>,
    provides: Provides,
    /// Conflicts and Breaks.
    conflicts: Vec<SingleDependency>,
}

pub(super) struct State<'a> {
    universe: &'a Universe,
    request: &'a Request,
    chosen: BTreeMap<String, Chosen>,
    /// Hard version constraints per package name, with who set them.
    constraints: BTreeMap<String, Vec<(SingleDependency, String)>>,
    /// Suite pins (`name/suite`).
    suite_pins: BTreeMap<String, String>,
    res: Resolution,
    queue: VecDeque<String>,
}

fn parse(pkg: &BinaryPackage, field: &str, text: &str) -> Result<Vec<Vec<SingleDependency>>, ResolveError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let list = DependencyList::parse(text).map_err(|e| ResolveError::BadField {
        package: pkg.name.clone(),
        version: pkg.version.to_string(),
        arch: pkg.arch.clone(),
        field: field.into(),
        reason: e.to_string(),
    })?;
    Ok(list.requirements().map(|g| g.iter().cloned().collect()).collect())
}

fn provides_of(pkg: &BinaryPackage) -> Provides {
    parse(pkg, "Provides", &pkg.provides)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|d| (base_name(&d.package).to_string(), d.version_constraint.map(|c| Version(c.version))))
        .collect()
}

fn conflicts_of(pkg: &BinaryPackage) -> Vec<SingleDependency> {
    let mut out = Vec::new();
    for text in [&pkg.conflicts, &pkg.breaks] {
        out.extend(parse(pkg, "Conflicts", text).unwrap_or_default().into_iter().flatten());
    }
    out
}

fn group_text(group: &[SingleDependency]) -> String {
    group.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" | ")
}

impl<'a> State<'a> {
    pub(super) fn new(universe: &'a Universe, request: &'a Request) -> Self {
        State {
            universe,
            request,
            chosen: BTreeMap::new(),
            constraints: BTreeMap::new(),
            suite_pins: BTreeMap::new(),
            res: Resolution {
                arch: request.arch.clone(),
                packages: BTreeMap::new(),
                reasons: BTreeMap::new(),
                dropped: Vec::new(),
                edges: Vec::new(),
                requested: Vec::new(),
            },
            queue: VecDeque::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Resolution, ResolveError> {
        let mut requests: Vec<(String, SingleDependency)> = Vec::new();
        for req in &self.request.packages {
            let (name, dep) = self.parse_request(req)?;
            requests.push((name, dep));
        }
        requests.sort_by(|a, b| a.0.cmp(&b.0));
        requests.dedup_by(|a, b| a.0 == b.0);
        self.res.requested = requests.iter().map(|(n, _)| n.clone()).collect();
        for (name, dep) in &requests {
            if self.request.exclude.contains(name) {
                return Err(self.unsatisfiable(
                    name,
                    None,
                    vec![format!("{name}: listed in both packages and exclude")],
                ));
            }
            self.constraints.entry(name.clone()).or_default().push((dep.clone(), "spec".into()));
        }
        // Like apt-get: mark every requested package first, then resolve
        // each one's dependencies in turn (sorted, so spec order does not
        // matter).
        for (_, dep) in requests {
            self.satisfy("spec", "request", vec![dep])?;
        }
        let roots: Vec<String> = self.queue.drain(..).collect();
        for root in roots {
            self.queue.push_back(root);
            self.descend()?;
        }
        self.res.dropped.sort();
        self.res.dropped.dedup();
        self.res.packages = self.chosen.into_iter().map(|(k, c)| (k, c.pkg)).collect();
        Ok(self.res)
    }

    /// Process newly chosen packages depth-first, as apt's `MarkInstall`
    /// does: a chosen package's dependencies are met, recursively, before
    /// the next dependency of its parent. The order decides which
    /// alternative of a later group is already met (see the apt
    /// differential test).
    fn descend(&mut self) -> Result<(), ResolveError> {
        struct Frame {
            name: String,
            groups: Vec<(&'static str, Vec<SingleDependency>)>,
            next: usize,
        }
        let frame = |st: &Self, name: String| -> Result<Frame, ResolveError> {
            let pkg = st.chosen[&name].pkg.clone();
            let mut groups = Vec::new();
            for (field, text) in [("Pre-Depends", &pkg.pre_depends), ("Depends", &pkg.depends)] {
                groups.extend(parse(&pkg, field, text)?.into_iter().map(|g| (field, g)));
            }
            Ok(Frame { name, groups, next: 0 })
        };
        let mut stack = Vec::new();
        while let Some(n) = self.queue.pop_back() {
            stack.push(frame(self, n)?);
        }
        while let Some(top) = stack.last_mut() {
            let Some((field, group)) = top.groups.get(top.next).cloned() else {
                stack.pop();
                continue;
            };
            top.next += 1;
            let from = top.name.clone();
            self.satisfy(&from, field, group)?;
            while let Some(n) = self.queue.pop_back() {
                stack.push(frame(self, n)?);
            }
        }
        Ok(())
    }

    /// `name`, `name=version` or `name/suite` → (name, dependency).
    fn parse_request(&mut self, req: &str) -> Result<(String, SingleDependency), ResolveError> {
        let bad = || ResolveError::Unsatisfiable {
            what: req.into(),
            arch: self.request.arch.clone(),
            chain: "spec".into(),
            tried: format!("\n    - {req:?} is not `name`, `name=version` or `name/suite`"),
        };
        if let Some((name, suite)) = req.split_once('/') {
            self.suite_pins.insert(name.into(), suite.into());
            return Ok((name.into(), SingleDependency::parse(name).map_err(|_| bad())?));
        }
        if let Some((name, version)) = req.split_once('=') {
            let dep = SingleDependency::parse(&format!("{name} (= {version})")).map_err(|_| bad())?;
            return Ok((name.into(), dep));
        }
        Ok((req.into(), SingleDependency::parse(req).map_err(|_| bad())?))
    }

    fn satisfy(&mut self, from: &str, field: &str, group: Vec<SingleDependency>) -> Result<(), ResolveError> {
        let arch = self.request.arch.clone();
        let group: Vec<SingleDependency> = group.into_iter().filter(|d| applies_to_arch(d, &arch)).collect();
        if group.is_empty() {
            return Ok(());
        }
        let text = group_text(&group);
        let edge = |to: Option<String>, passed_over: Vec<String>| Edge {
            from: from.into(),
            field: field.into(),
            dependency: text.clone(),
            to,
            passed_over,
        };
        if let Some(d) = group.iter().find(|d| self.request.exclude.contains(base_name(&d.package))) {
            self.res.dropped.push(Dropped { package: from.into(), dependency: text.clone() });
            let e = edge(None, vec![format!("{}: excluded by the spec, so the whole group is dropped", d.package)]);
            self.res.edges.push(e);
            return Ok(());
        }
        let mut passed = Vec::new();
        // Met by something already chosen? (first alternative in order)
        for d in &group {
            if let Some(by) = self.met_by_chosen(d) {
                let e = edge(Some(by), passed);
                self.res.edges.push(e);
                return Ok(());
            }
            passed.push(format!("{d}: not yet installed, and an alternative already installed meets the group"));
        }
        let mut tried = Vec::new();
        for d in &group {
            if let Some(pkg) = self.pick(d, from, &mut tried)? {
                let name = pkg.name.clone();
                self.choose(pkg, from, &text);
                let e = edge(Some(name), tried);
                self.res.edges.push(e);
                return Ok(());
            }
        }
        Err(self.unsatisfiable(&text, Some(from), tried))
    }

    /// The chosen package that meets `d`, if any.
    fn met_by_chosen(&self, d: &SingleDependency) -> Option<String> {
        let name = base_name(&d.package);
        let any = d.package.ends_with(":any");
        if let Some(c) = self.chosen.get(name) {
            if satisfies_version(&c.pkg.version, d) && (!any || c.pkg.multi_arch == "allowed") {
                return Some(c.pkg.name.clone());
            }
        }
        self.chosen
            .values()
            .find(|c| c.pkg.name != name && package_satisfies(&c.pkg, d, &c.provides))
            .map(|c| c.pkg.name.clone())
    }

    /// The best package for one alternative `d`, or `None` (reasons in `tried`).
    fn pick(
        &self,
        d: &SingleDependency,
        from: &str,
        tried: &mut Vec<String>,
    ) -> Result<Option<Arc<BinaryPackage>>, ResolveError> {
        let name = base_name(&d.package);
        let any = d.package.ends_with(":any");
        if let Some(c) = self.chosen.get(name) {
            tried.push(format!("{} {} (already chosen): does not satisfy {d}", c.pkg.name, c.pkg.version));
        } else {
            for cand in self.universe.candidates(name) {
                if let Some(why) = self.reject(cand, d, any) {
                    tried.push(format!("{} {}: {why}", cand.name, cand.version));
                    continue;
                }
                return Ok(Some(cand.clone()));
            }
        }
        self.pick_provider(d, from, tried)
    }

    /// Why `cand` (a real package named as `d`) cannot be taken, if so.
    fn reject(&self, cand: &BinaryPackage, d: &SingleDependency, any: bool) -> Option<String> {
        if !satisfies_version(&cand.version, d) {
            return Some(format!("version does not satisfy {d}"));
        }
        if any && cand.multi_arch != "allowed" {
            return Some(format!("{d} needs Multi-Arch: allowed, the package has {:?}", cand.multi_arch));
        }
        self.reject_package(cand)
    }

    /// Why `p` cannot join the set whatever needs it, if so: excluded,
    /// outside its suite pin, against a known version constraint, or in
    /// conflict with the chosen set.
    fn reject_package(&self, p: &BinaryPackage) -> Option<String> {
        if self.request.exclude.contains(&p.name) {
            return Some("excluded by the spec".into());
        }
        if let Some(pin) = self.suite_pins.get(&p.name) {
            if &p.suite != pin {
                return Some(format!("from {}, but the spec pins suite {pin}", p.suite));
            }
        }
        for (c, who) in self.constraints.get(&p.name).into_iter().flatten() {
            if !satisfies_version(&p.version, c) {
                return Some(format!("{who} requires {c}"));
            }
        }
        self.conflict(p)
    }

    fn pick_provider(
        &self,
        d: &SingleDependency,
        from: &str,
        tried: &mut Vec<String>,
    ) -> Result<Option<Arc<BinaryPackage>>, ResolveError> {
        let name = base_name(&d.package);
        let mut ok: Vec<Arc<BinaryPackage>> = Vec::new();
        for (p, provided) in self.universe.providers(name) {
            let why = match (&d.version_constraint, provided) {
                (Some(_), None) => Some(format!("provides {name} without a version, which cannot meet {d}")),
                (Some(_), Some(v)) if !satisfies_version(v, d) => {
                    Some(format!("provides {name} {v}, which does not meet {d}"))
                }
                _ if ok.iter().any(|q| q.name == p.name) => continue,
                _ => match self.chosen.get(&p.name) {
                    Some(c) if c.pkg.version != p.version => Some(format!("another version of {} is chosen", p.name)),
                    _ => self.reject_package(p),
                },
            };
            match why {
                Some(w) => tried.push(format!("{} {} (provides {name}): {w}", p.name, p.version)),
                None => ok.push(p.clone()),
            }
        }
        if ok.is_empty() {
            if self.universe.candidates(name).is_empty() && self.universe.providers(name).is_empty() {
                tried.push(format!("{name}: no package or provider of that name for {}", self.request.arch));
            }
            return Ok(None);
        }
        let best = ok.iter().map(|p| priority_rank(&p.priority)).min().unwrap_or(u8::MAX);
        let top: Vec<&Arc<BinaryPackage>> = ok.iter().filter(|p| priority_rank(&p.priority) == best).collect();
        let chosen = if top.len() == 1 {
            top[0].clone()
        } else if let Some(p) = top.iter().find(|p| self.request.prefer.contains(&p.name)) {
            (*p).clone()
        } else {
            return Err(ResolveError::Ambiguous {
                name: name.into(),
                arch: self.request.arch.clone(),
                chain: if from == "spec" { "spec".into() } else { self.res.chain(from) },
                providers: top
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        for p in &ok {
            if p.name != chosen.name {
                let why = if priority_rank(&p.priority) > best {
                    format!("Priority {} is lower than {}'s {}", p.priority, chosen.name, chosen.priority)
                } else {
                    format!("the spec prefers {}", chosen.name)
                };
                tried.push(format!("{} {} (provides {name}): {why}", p.name, p.version));
            }
        }
        Ok(Some(chosen))
    }

    /// Conflicts/Breaks between `cand` and the chosen set, either way.
    fn conflict(&self, cand: &BinaryPackage) -> Option<String> {
        let cand_conflicts = conflicts_of(cand);
        let cand_provides = provides_of(cand);
        for c in self.chosen.values().filter(|c| c.pkg.name != cand.name) {
            if let Some(d) = cand_conflicts.iter().find(|d| package_satisfies(&c.pkg, d, &c.provides)) {
                return Some(format!("it conflicts with chosen {} {} ({d})", c.pkg.name, c.pkg.version));
            }
            if let Some(d) = c.conflicts.iter().find(|d| package_satisfies(cand, d, &cand_provides)) {
                return Some(format!("chosen {} {} conflicts with it ({d})", c.pkg.name, c.pkg.version));
            }
        }
        None
    }

    fn choose(&mut self, pkg: Arc<BinaryPackage>, from: &str, why: &str) {
        let parent = (from != "spec").then(|| from.to_string());
        // Register this package's hard (single-alternative) constraints.
        for (field, text) in [("Pre-Depends", &pkg.pre_depends), ("Depends", &pkg.depends)] {
            for group in parse(&pkg, field, text).unwrap_or_default() {
                let group: Vec<_> = group.into_iter().filter(|d| applies_to_arch(d, &self.request.arch)).collect();
                if let [d] = group.as_slice() {
                    if d.version_constraint.is_some() {
                        self.constraints
                            .entry(base_name(&d.package).into())
                            .or_default()
                            .push((d.clone(), pkg.name.clone()));
                    }
                }
            }
        }
        self.res.reasons.insert(pkg.name.clone(), (parent, why.into()));
        self.queue.push_back(pkg.name.clone());
        let chosen = Chosen { provides: provides_of(&pkg), conflicts: conflicts_of(&pkg), pkg };
        self.chosen.insert(chosen.pkg.name.clone(), chosen);
    }

    fn unsatisfiable(&self, what: &str, from: Option<&str>, mut tried: Vec<String>) -> ResolveError {
        let chain = match from {
            Some(p) if p != "spec" => self.res.chain(p),
            _ => "spec".into(),
        };
        tried.sort();
        tried.dedup();
        let tried =
            if tried.is_empty() { " (none)".into() } else { tried.iter().map(|t| format!("\n    - {t}")).collect() };
        ResolveError::Unsatisfiable { what: what.into(), arch: self.request.arch.clone(), chain, tried }
    }
}
