//! Activation memory: one arena, offsets chosen by liveness.
//!
//! Tensors that share memory (views, in-place residual outputs) form a
//! group. Each group lives from the step that writes it to its last reader;
//! groups are placed greedily, largest first, at the lowest offset that does
//! not collide with any group alive at the same time.

use super::lower::Draft;
use super::{Step, TensorId, ARENA_ALIGN};

struct Group {
    len: usize,
    first: usize,
    last: usize,
    offset: usize,
}

fn find(parent: &mut [usize], mut t: usize) -> usize {
    while parent[t] != t {
        parent[t] = parent[parent[t]];
        t = parent[t];
    }
    t
}

/// Assigns `offset` to every tensor in `d`; returns the arena length in elements.
pub(super) fn allocate(d: &mut Draft) -> usize {
    let n = d.tensors.len();
    let mut parent: Vec<usize> = (0..n).map(|t| d.view_of[t].unwrap_or(t)).collect();
    let end = d.steps.len();
    // Live ranges per group root, in step indices (the input is written before step 0).
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let touch = |parent: &mut [usize], first: &mut [usize], last: &mut [usize], t: TensorId, s: usize| {
        let r = find(parent, t);
        first[r] = first[r].min(s);
        last[r] = last[r].max(s);
    };
    touch(&mut parent, &mut first, &mut last, d.input, 0);
    for (s, step) in d.steps.iter().enumerate() {
        touch(&mut parent, &mut first, &mut last, step.output(), s);
        for t in step.inputs() {
            touch(&mut parent, &mut first, &mut last, t, s);
        }
    }
    touch(&mut parent, &mut first, &mut last, d.output, end);

    // In-place residual: the conv's output reuses its residual's memory when
    // the residual dies at this step and is not also the conv's input.
    for (s, step) in d.steps.iter().enumerate() {
        let Step::Conv(c) = step else { continue };
        let Some(r) = c.residual else { continue };
        let (rr, ro, ri) = (find(&mut parent, r), find(&mut parent, c.output), find(&mut parent, c.input));
        if rr != ro && rr != ri && last[rr] == s && d.tensors[r].len() == d.tensors[c.output].len() {
            parent[ro] = rr;
            first[rr] = first[rr].min(first[ro]);
            last[rr] = last[rr].max(last[ro]);
        }
    }

    let mut groups: Vec<(usize, Group)> = Vec::new();
    for t in 0..n {
        let r = find(&mut parent, t);
        if first[r] == usize::MAX {
            continue; // never touched by a step: dropped later
        }
        let len = d.tensors[t].len().div_ceil(ARENA_ALIGN) * ARENA_ALIGN;
        match groups.iter_mut().find(|(root, _)| *root == r) {
            Some((_, g)) => g.len = g.len.max(len),
            None => groups.push((r, Group { len, first: first[r], last: last[r], offset: 0 })),
        }
    }
    // Largest first; ties by earlier start so the result is deterministic.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(groups[i].1.len), groups[i].1.first));
    let mut placed: Vec<usize> = Vec::new();
    let mut arena = 0;
    for i in order {
        let (g_len, g_first, g_last) = (groups[i].1.len, groups[i].1.first, groups[i].1.last);
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .map(|&j| &groups[j].1)
            .filter(|o| o.first <= g_last && g_first <= o.last)
            .map(|o| (o.offset, o.offset + o.len))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, stop) in busy {
            if offset + g_len <= start {
                break;
            }
            offset = offset.max(stop);
        }
        groups[i].1.offset = offset;
        arena = arena.max(offset + g_len);
        placed.push(i);
    }
    for t in 0..n {
        let r = find(&mut parent, t);
        if let Some((_, g)) = groups.iter().find(|(root, _)| *root == r) {
            d.tensors[t].offset = g.offset;
        }
    }
    arena
}
