//! The paging of one tenant's source, so that every record version is written once: ask for
//! the records updated at or after the cursor, write what is new, move the cursor, ask again.
//!
//! - The cursor is the last update time written and the ids written AT that time. A query asks
//!   `time ge cursor` (never `gt`, which loses records sharing the boundary time); records at the
//!   cursor time whose id was written are dropped as duplicates. A record updated later comes
//!   back with a new time: that is a change, and it is written again.
//! - Ordered sources (Graph, `$orderby` ascending): the API's `@odata.nextLink` is followed (a
//!   keyset position: a record updated meanwhile moves to a later page, never skipped); a full
//!   page without a link holds every record before its last time, so the next query starts at
//!   that time (time-boundary paging). Never a deep `$skip`.
//! - Unordered sources (the Defender APIs document no order): a full page says only that more
//!   exist, so the window is narrowed (`lt` the median time of the page) until a page comes back
//!   complete; its records are sorted and written, and the cursor moves to the window's end.
//! - More records at ONE time than a page holds (ties): that time is read on its own
//!   (`ge T and le T`), following `@odata.nextLink` or `$skip`, then the query goes on after it.
//! - A page is committed (written durably, then the cursor saved) before the next is asked for.

use super::stamp::Stamp;
use anyhow::Result;
use std::collections::HashSet;

/// Bounds the pages of one source in one run (a server that never stops paging).
pub const MAX_PAGES: u64 = 100_000;

/// Passes over a group of ties (see [`ties`]).
const TIE_PASSES: u32 = 4;

/// Where a source stands: the last update time written and the ids written at that time.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub stamp: Stamp,
    pub ids: HashSet<String>,
}

impl Cursor {
    pub fn at(stamp: Stamp) -> Cursor {
        Cursor {
            stamp,
            ids: HashSet::new(),
        }
    }

    /// Whether (stamp, id) is new; if so the cursor moves to it.
    fn admit(&mut self, stamp: &Stamp, id: &str) -> Admit {
        if *stamp < self.stamp {
            return Admit::Older;
        }
        if *stamp == self.stamp {
            if self.ids.contains(id) {
                return Admit::Duplicate;
            }
        } else {
            self.stamp = stamp.clone();
            self.ids.clear();
        }
        self.ids.insert(id.to_string());
        Admit::New
    }
}

enum Admit {
    New,
    Duplicate,
    Older,
}

/// One record of a page, read and checked.
#[derive(Debug)]
pub struct Rec {
    pub stamp: Stamp,
    pub id: String,
    /// The record's JSON as the API sent it.
    pub text: Text,
    /// It names another tenant (or none): counted, never written.
    pub refused: bool,
}

/// Where a record's JSON is: a span of the page's body (written as is, never parsed into a
/// tree), or its compact spelling when the API's had line breaks (an NDJSON line must not).
#[derive(Debug, Clone)]
pub enum Text {
    Span(std::ops::Range<usize>),
    Owned(String),
}

impl Rec {
    pub fn json<'a>(&'a self, body: &'a str) -> &'a str {
        match &self.text {
            Text::Span(r) => body.get(r.clone()).unwrap_or("null"),
            Text::Owned(s) => s,
        }
    }
}

/// One page as the API answered it.
#[derive(Debug, Default)]
pub struct Page {
    /// The answer's body, which the records' spans point into.
    pub body: String,
    /// Records whose id and time could be read.
    pub recs: Vec<Rec>,
    /// Items in the answer, readable or not.
    pub raw: usize,
    /// Items without a readable id or time (refused, counted).
    pub malformed: usize,
    pub next: Option<String>,
}

/// What to ask for.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `time ge from` (or `gt` when not inclusive), `and time lt to`.
    Window {
        from: Stamp,
        inclusive: bool,
        to: Option<Stamp>,
    },
    /// `time ge at and time le at`, skipping `skip` records.
    Tie { at: Stamp, skip: usize },
    /// An `@odata.nextLink` the API gave.
    Next(String),
}

/// The API side, per source.
#[allow(async_fn_in_trait)]
pub trait Pages {
    async fn fetch(&mut self, q: &Query, top: u32) -> Result<Page>;
}

/// The durable side: writes the new records (their JSON in `body`), then saves the cursor.
pub trait Commit {
    fn commit(&mut self, body: &str, records: &[&Rec], cursor: &Cursor) -> Result<()>;
}

/// Counts of one source's run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub written: u64,
    pub duplicates: u64,
    pub refused: u64,
    pub malformed: u64,
    pub pages: u64,
}

/// Pages one source from `cursor` until the API has nothing newer; returns the final cursor.
/// `links`: the API pages with `@odata.nextLink` (Graph does), so a page without one is the
/// last, even a full one; otherwise a full page means more may follow.
#[allow(clippy::too_many_arguments)]
pub async fn collect(
    pages: &mut impl Pages,
    commit: &mut impl Commit,
    mut ordered: bool,
    links: bool,
    top: u32,
    mut cur: Cursor,
    tally: &mut Tally,
) -> Result<Cursor> {
    let top = top.max(1);
    let mut inclusive = true;
    let mut upper: Option<Stamp> = None;
    let mut link: Option<String> = None;
    // An API that pages with @odata.nextLink ends with a page without one (even a full one).
    let mut gives_links = links;
    loop {
        let following = link.is_some();
        let q = match link.take() {
            Some(l) => Query::Next(l),
            None => Query::Window {
                from: cur.stamp.clone(),
                inclusive,
                to: upper.clone(),
            },
        };
        let mut page = fetch(pages, &q, top, tally).await?;
        let full = page.raw >= top as usize || page.next.is_some();
        // Only what was asked for counts (an API answering outside it is ignored; records of
        // a followed link before the cursor are old news).
        let (from, to) = (cur.stamp.clone(), upper.clone());
        page.recs.retain(|r| {
            (if inclusive || following {
                r.stamp >= from
            } else {
                r.stamp > from
            }) && to.as_ref().is_none_or(|u| r.stamp < *u)
        });
        if ordered && !is_sorted(&page.recs) {
            crate::verbose!("the API did not sort by update time as asked; paging by windows");
            ordered = false;
            if following {
                continue;
            }
        }
        if ordered {
            // Every record before the page's last time is in this page or an earlier one.
            let before = cur.stamp.clone();
            let new = admit_all(&mut cur, &page.recs, tally);
            commit.commit(&page.body, &new, &cur)?;
            if cur.stamp > before {
                inclusive = true;
            }
            if let Some(l) = page.next.take() {
                // The API's own paging (Graph's is a keyset position: a record updated
                // meanwhile moves to a later page, it is never skipped).
                link = Some(l);
                gives_links = true;
                continue;
            }
            if !full || gives_links {
                return Ok(cur);
            }
            // A full page and no link: page by time, from the last time written.
            if cur.stamp > before {
                continue;
            }
            if page.recs.is_empty() {
                return Err(no_progress(&cur));
            }
            // Every record at the cursor's time: more ties than a page holds.
            cur = ties(pages, commit, cur, top, tally).await?;
            inclusive = false;
            continue;
        }
        if !full {
            sort(&mut page.recs);
            let new = admit_all(&mut cur, &page.recs, tally);
            match upper.take() {
                // The narrowed window is complete: everything before its end is written.
                Some(end) => {
                    if end > cur.stamp {
                        cur = Cursor::at(end);
                    }
                    inclusive = true;
                    commit.commit(&page.body, &new, &cur)?;
                    continue;
                }
                None => {
                    commit.commit(&page.body, &new, &cur)?;
                    return Ok(cur);
                }
            }
        }
        let mut stamps: Vec<&Stamp> = page.recs.iter().map(|r| &r.stamp).collect();
        stamps.sort();
        let Some(median) = stamps.get(stamps.len() / 2).copied() else {
            return Err(no_progress(&cur));
        };
        if *median > cur.stamp {
            upper = Some(median.clone());
            continue;
        }
        if let Some(above) = stamps.iter().find(|s| ***s > cur.stamp) {
            upper = Some((*above).clone());
            continue;
        }
        // A full page, every record at the cursor's time: more ties than a page holds. (Only
        // an inclusive window gets here: the others hold nothing at the cursor's time.)
        cur = ties(pages, commit, cur, top, tally).await?;
        inclusive = false;
    }
}

/// Every record at the cursor's time, over as many pages as it takes. Paging by `$skip` (or a
/// link built on it) shifts when a record of the group is updated meanwhile (it leaves the
/// group and the next page starts one record late), so the group is read again until a whole
/// pass finds nothing new (at most [`TIE_PASSES`] passes).
async fn ties(
    pages: &mut impl Pages,
    commit: &mut impl Commit,
    mut cur: Cursor,
    top: u32,
    tally: &mut Tally,
) -> Result<Cursor> {
    let at = cur.stamp.clone();
    crate::verbose!("more records at {at} than a page holds: reading that time on its own");
    for pass in 1..=TIE_PASSES {
        let before = tally.written + tally.refused;
        let mut q = Query::Tie {
            at: at.clone(),
            skip: 0,
        };
        loop {
            let mut page = fetch(pages, &q, top, tally).await?;
            page.recs.retain(|r| r.stamp == at);
            sort(&mut page.recs);
            let new = admit_all(&mut cur, &page.recs, tally);
            commit.commit(&page.body, &new, &cur)?;
            q = match (page.next.take(), &q) {
                (Some(link), _) => Query::Next(link),
                (None, Query::Tie { skip, .. }) if page.raw >= top as usize => Query::Tie {
                    at: at.clone(),
                    skip: skip + page.raw,
                },
                _ => break,
            };
        }
        if pass > 1 && tally.written + tally.refused == before {
            break;
        }
    }
    Ok(cur)
}

async fn fetch(pages: &mut impl Pages, q: &Query, top: u32, tally: &mut Tally) -> Result<Page> {
    if tally.pages >= MAX_PAGES {
        return Err(crate::error::fail(
            crate::error::Exit::Network,
            format!(
                "stopped after {MAX_PAGES} pages in one run: the API keeps paging; run again to go on"
            ),
        ));
    }
    tally.pages += 1;
    let page = pages.fetch(q, top).await?;
    tally.malformed += page.malformed as u64;
    Ok(page)
}

fn no_progress(cur: &Cursor) -> anyhow::Error {
    crate::error::fail(
        crate::error::Exit::Network,
        format!(
            "the API answered a full page without a record after {} that could be read; the cursor stays there",
            cur.stamp
        ),
    )
}

fn is_sorted(recs: &[Rec]) -> bool {
    recs.windows(2).all(|w| w[0].stamp <= w[1].stamp)
}

fn sort(recs: &mut [Rec]) {
    recs.sort_by(|a, b| a.stamp.cmp(&b.stamp).then_with(|| a.id.cmp(&b.id)));
}

/// The records to write, in order; the cursor moves over all of them (refused ones included,
/// so that a refused record does not come back forever).
fn admit_all<'a>(cur: &mut Cursor, recs: &'a [Rec], tally: &mut Tally) -> Vec<&'a Rec> {
    let mut new = Vec::new();
    for r in recs {
        match cur.admit(&r.stamp, &r.id) {
            Admit::New if r.refused => tally.refused += 1,
            Admit::New => {
                tally.written += 1;
                new.push(r);
            }
            Admit::Duplicate => tally.duplicates += 1,
            Admit::Older => {}
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = (i64, String);
    type Change = Box<dyn FnMut(&mut Vec<Item>, u64)>;

    /// An API over (time in ms, id) records, ordered or not, with a page limit and changes
    /// between pages; its links page by skip, like the Defender APIs'.
    struct Fake {
        items: Vec<Item>,
        ordered: bool,
        /// Max items a page returns whatever $top says (a clamp), and whether it gives nextLinks.
        clamp: usize,
        links: bool,
        /// Called before each page: changes the data (a collection running while alerts change).
        change: Change,
        calls: u64,
    }

    fn st(ms: i64) -> Stamp {
        let base = Stamp::from_epoch(ms.div_euclid(1000));
        Stamp::parse(&format!(
            "{}.{:03}Z",
            base.as_str().trim_end_matches('Z'),
            ms.rem_euclid(1000)
        ))
        .unwrap()
    }

    fn ms(s: &Stamp) -> i64 {
        (s.nanos() / 1_000_000) as i64
    }

    impl Pages for Fake {
        async fn fetch(&mut self, q: &Query, top: u32) -> Result<Page> {
            self.calls += 1;
            (self.change)(&mut self.items, self.calls);
            let n = (top as usize).min(self.clamp);
            // Links: a keyset position ("k|time|id|end") for windows of an ordered API, an
            // offset ("s|time|skip") for ties, as the sandbox's Graph and Defender give them.
            let window = |from: i64, incl: bool, to: Option<i64>| -> Vec<Item> {
                self.items
                    .iter()
                    .filter(|(t, _)| {
                        (if incl { *t >= from } else { *t > from }) && to.is_none_or(|u| *t < u)
                    })
                    .cloned()
                    .collect()
            };
            let (mut sel, skip, end): (Vec<Item>, usize, Option<i64>) = match q {
                Query::Window {
                    from,
                    inclusive,
                    to,
                } => (
                    window(ms(from), *inclusive, to.as_ref().map(ms)),
                    0,
                    to.as_ref().map(ms),
                ),
                Query::Tie { at, skip } => (window(ms(at), true, Some(ms(at) + 1)), *skip, None),
                Query::Next(link) => {
                    let p: Vec<&str> = link.split('|').collect();
                    match p[0] {
                        "k" => {
                            let (t, id) = (p[1].parse::<i64>().unwrap(), p[2].to_string());
                            let end = p[3].parse::<i64>().ok();
                            let mut v = window(t, true, end);
                            v.retain(|x| (x.0, x.1.as_str()) > (t, id.as_str()));
                            (v, 0, end)
                        }
                        _ => {
                            let at: i64 = p[1].parse().unwrap();
                            (window(at, true, Some(at + 1)), p[2].parse().unwrap(), None)
                        }
                    }
                }
            };
            if self.ordered {
                sel.sort();
            } else {
                // A stable but unhelpful order: by id, reversed.
                sel.sort_by(|a, b| b.1.cmp(&a.1));
            }
            let total = sel.len();
            let chosen: Vec<Item> = sel.into_iter().skip(skip).take(n).collect();
            let more = self.links && skip + chosen.len() < total;
            let next = match (q, chosen.last()) {
                (Query::Tie { at, .. }, _) if more => {
                    Some(format!("s|{}|{}", ms(at), skip + chosen.len()))
                }
                (Query::Next(link), _) if more && link.starts_with('s') => Some(format!(
                    "s|{}|{}",
                    link.split('|').nth(1).unwrap(),
                    skip + chosen.len()
                )),
                (_, Some((t, id))) if more && self.ordered => Some(format!(
                    "k|{t}|{id}|{}",
                    end.map(|e| e.to_string()).unwrap_or_default()
                )),
                (Query::Window { .. }, _) if more => Some("more".to_string()),
                _ => None,
            };
            let recs: Vec<Rec> = chosen
                .into_iter()
                .map(|(t, id)| Rec {
                    stamp: st(t),
                    id,
                    text: Text::Owned("{}".into()),
                    refused: false,
                })
                .collect();
            Ok(Page {
                body: String::new(),
                raw: recs.len(),
                recs,
                malformed: 0,
                next,
            })
        }
    }

    #[derive(Default)]
    struct Out {
        lines: Vec<Item>,
    }

    impl Commit for Out {
        fn commit(&mut self, _body: &str, records: &[&Rec], _cursor: &Cursor) -> Result<()> {
            for r in records {
                self.lines.push((ms(&r.stamp), r.id.clone()));
            }
            Ok(())
        }
    }

    fn run(fake: &mut Fake, top: u32) -> Vec<Item> {
        let mut out = Out::default();
        let mut tally = Tally::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ordered = fake.ordered;
        let links = fake.links;
        rt.block_on(collect(
            fake,
            &mut out,
            ordered,
            links,
            top,
            Cursor::at(st(0)),
            &mut tally,
        ))
        .unwrap();
        out.lines
    }

    fn data() -> Vec<Item> {
        // 200 records: times in groups of 13 ties, and one group of 40 at t=5000.
        let mut v = Vec::new();
        for i in 0..160 {
            v.push((1000 + (i / 13) * 7, format!("a{i:03}")));
        }
        for i in 0..40 {
            v.push((5000, format!("t{i:03}")));
        }
        v
    }

    fn no_repeats(got: &[Item]) -> HashSet<Item> {
        let set: HashSet<Item> = got.iter().cloned().collect();
        assert_eq!(set.len(), got.len(), "a record was written twice");
        set
    }

    fn fake(ordered: bool, links: bool, clamp: usize) -> Fake {
        Fake {
            items: data(),
            ordered,
            clamp,
            links,
            change: Box::new(|_, _| {}),
            calls: 0,
        }
    }

    #[test]
    fn every_record_once_ordered_or_not_with_ties_larger_than_a_page() {
        for (ordered, links) in [(true, true), (false, true), (false, false), (true, false)] {
            for top in [1u32, 5, 10, 1000] {
                let got = run(&mut fake(ordered, links, usize::MAX), top);
                let want: HashSet<Item> = data().into_iter().collect();
                assert_eq!(
                    no_repeats(&got),
                    want,
                    "ordered {ordered}, links {links}, top {top}"
                );
            }
        }
    }

    #[test]
    fn an_api_that_pages_with_links_ends_with_a_page_without_one_even_a_full_one() {
        let ten: Vec<Item> = (0..10).map(|i| (1000 + i, format!("a{i}"))).collect();
        let mut f = fake(true, true, usize::MAX);
        f.items = ten.clone();
        let got = run(&mut f, 10);
        assert_eq!(got.len(), 10);
        assert_eq!(f.calls, 1, "one full page, no link: done");
        // Without links, a full page may be followed by more: one more query says not.
        let mut f = fake(true, false, usize::MAX);
        f.items = ten;
        assert_eq!(run(&mut f, 10).len(), 10);
        assert_eq!(f.calls, 2);
    }

    #[test]
    fn a_clamped_page_with_a_link_is_not_taken_for_the_last() {
        let got = run(&mut fake(true, true, 7), 50);
        assert_eq!(no_repeats(&got), data().into_iter().collect());
    }

    #[test]
    fn records_changed_during_the_run_are_written_once_per_version() {
        for ordered in [true, false] {
            let log = std::rc::Rc::new(std::cell::RefCell::new(data()));
            let l = log.clone();
            let mut f = fake(ordered, true, usize::MAX);
            // Every 3rd call: an old record moves to a later time, and a new one appears.
            f.change = Box::new(move |items, call| {
                if call % 3 == 0 && call < 60 {
                    let t = 6000 + call as i64;
                    let i = (call as usize * 7) % 150;
                    items[i].0 = t;
                    let id = items[i].1.clone();
                    items.push((t, format!("n{call:03}")));
                    l.borrow_mut().push((t, id));
                    l.borrow_mut().push((t, format!("n{call:03}")));
                }
            });
            let got = no_repeats(&run(&mut f, 6));
            // Every version still there at the end was written; nothing was made up.
            for item in &f.items {
                assert!(got.contains(item), "missing {item:?} (ordered: {ordered})");
            }
            let all: HashSet<Item> = log.borrow().iter().cloned().collect();
            assert!(got.is_subset(&all));
        }
    }
}
