//! Plays a list of encoded prompts as 20 ms frames, once or in a loop.

use std::sync::Arc;

use crate::{Law, SAMPLES_PER_FRAME};

/// One playback: prompts played back to back without gaps, the last frame
/// padded with silence.
#[derive(Clone, Debug)]
pub struct Player {
    items: Vec<Arc<[u8]>>,
    index: usize,
    offset: usize,
    looping: bool,
    silence: u8,
    frames: u64,
}

impl Player {
    /// A player of `items` (already encoded in the leg's law). With
    /// `looping` (music on hold) it starts again after the last item.
    pub fn new(items: Vec<Arc<[u8]>>, looping: bool, law: Law) -> Self {
        Player {
            items,
            index: 0,
            offset: 0,
            looping,
            silence: law.silence(),
            frames: 0,
        }
    }

    /// Frames produced so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether every item has been played (never, when looping).
    pub fn is_finished(&self) -> bool {
        self.index >= self.items.len()
    }

    /// Fills `frame` with the next 20 ms; false when there is nothing left.
    pub fn next_frame(&mut self, frame: &mut [u8; SAMPLES_PER_FRAME]) -> bool {
        if self.is_finished() {
            return false;
        }
        let mut filled = 0;
        while filled < SAMPLES_PER_FRAME && self.index < self.items.len() {
            let item = &self.items[self.index];
            let take = (item.len() - self.offset).min(SAMPLES_PER_FRAME - filled);
            frame[filled..filled + take].copy_from_slice(&item[self.offset..self.offset + take]);
            filled += take;
            self.offset += take;
            if self.offset >= item.len() {
                self.index += 1;
                self.offset = 0;
                if self.index >= self.items.len() && self.looping && filled > 0 {
                    self.index = 0;
                }
            }
        }
        frame[filled..].fill(self.silence);
        self.frames += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_play_back_to_back_and_the_tail_is_padded() {
        let a: Arc<[u8]> = vec![1u8; 200].into();
        let b: Arc<[u8]> = vec![2u8; 50].into();
        let mut p = Player::new(vec![a, b], false, Law::Mu);
        let mut f = [0u8; 160];
        assert!(p.next_frame(&mut f));
        assert_eq!(f, [1u8; 160]);
        assert!(p.next_frame(&mut f));
        assert_eq!(&f[..40], &[1u8; 40]);
        assert_eq!(&f[40..90], &[2u8; 50]);
        assert_eq!(&f[90..], &[0xFFu8; 70]);
        assert!(!p.next_frame(&mut f));
        assert!(p.is_finished());
    }

    #[test]
    fn looping_never_ends() {
        let a: Arc<[u8]> = vec![7u8; 100].into();
        let mut p = Player::new(vec![a], true, Law::A);
        let mut f = [0u8; 160];
        for _ in 0..1000 {
            assert!(p.next_frame(&mut f));
            assert!(f.iter().all(|b| *b == 7));
        }
    }
}
