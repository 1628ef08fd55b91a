//! A chunk's rows sorted out by shard into anonymous temporary files (one per shard, in `$TMPDIR`),
//! so that each worker then loads its shards one after another in a single transaction, the way a bulk
//! load from files goes, instead of keeping one COPY per shard open while the source streams. Memory
//! stays small (at most 2 MiB of write buffers per stream, 8 KiB per shard beyond 256 shards); the files hold about one chunk per stream, are
//! overwritten from the start by the next chunk (not truncated: their pages stay in the page cache
//! instead of being freed and allocated again chunk after chunk) and are removed by the operating
//! system when the stream ends.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Remedy, Result};

/// Write buffers of one stream, shared out among its shards' files (8–64 KiB each), so that memory
/// per stream does not grow with the shard count.
const WRITE_BUFFERS: usize = 2 << 20;

fn write_buffer(shards: usize) -> usize {
    (WRITE_BUFFERS / shards.max(1)).clamp(8 << 10, 64 << 10)
}

/// Makes sure this process may open `needed` files (spill files and connections): raises the soft limit
/// on open files up to the hard one if needed; an error naming both when even that is not enough.
pub(super) fn ensure_open_files(needed: u64, why: &str) -> Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= needed {
        return Ok(());
    }
    let want = (needed as libc::rlim_t).min(lim.rlim_max);
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: as above.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
    if ok && want >= needed {
        return Ok(());
    }
    Err(Error::Limit {
        message: format!(
            "{why} needs about {needed} open files, but this process may open at most {} \
             (`ulimit -n`, hard limit {})",
            if ok { want } else { lim.rlim_cur },
            lim.rlim_max
        ),
        remedy: Remedy::FewerJobs,
    })
}

/// The rows of one shard in the current chunk.
pub(super) struct ShardFile {
    file: BufWriter<File>,
    pub rows: u64,
    /// Bytes of the current chunk (the file may be longer, from an earlier chunk).
    pub bytes: u64,
    /// Bytes of the current chunk read back so far.
    read: u64,
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::io(format!("{what} a temporary file of the copy"), e)
}

impl ShardFile {
    /// The next piece of at most `max` bytes of what was written, from the start; `None` at the end.
    /// Call [`Spill::finish_writing`] first.
    pub(super) fn read_piece(&mut self, max: usize) -> Result<Option<Bytes>> {
        let want = (self.bytes - self.read).min(max as u64) as usize;
        if want == 0 {
            return Ok(None);
        }
        let mut buf = BytesMut::zeroed(want);
        self.file
            .get_mut()
            .read_exact(&mut buf)
            .map_err(|e| io("reading", e))?;
        self.read += want as u64;
        Ok(Some(buf.freeze()))
    }
}

/// One file per shard, reused chunk after chunk.
pub(super) struct Spill {
    pub shards: Vec<ShardFile>,
}

impl Spill {
    pub(super) fn new(shards: usize) -> Result<Self> {
        let shards = (0..shards)
            .map(|_| {
                Ok(ShardFile {
                    file: BufWriter::with_capacity(
                        write_buffer(shards),
                        tempfile::tempfile().map_err(|e| io("creating", e))?,
                    ),
                    rows: 0,
                    bytes: 0,
                    read: 0,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Spill { shards })
    }

    /// Starts a new chunk at the start of every file (also after a failed attempt left rows half
    /// written: only the bytes counted for the current chunk are ever read back).
    pub(super) fn reset(&mut self) -> Result<()> {
        for s in &mut self.shards {
            s.file.flush().map_err(|e| io("writing", e))?;
            s.file
                .get_mut()
                .seek(SeekFrom::Start(0))
                .map_err(|e| io("rewinding", e))?;
            s.rows = 0;
            s.bytes = 0;
            s.read = 0;
        }
        Ok(())
    }

    /// Appends one row to shard `shard`'s file.
    pub(super) fn push(&mut self, shard: usize, row: &[u8]) -> Result<()> {
        let s = &mut self.shards[shard];
        s.file.write_all(row).map_err(|e| io("writing", e))?;
        s.rows += 1;
        s.bytes += row.len() as u64;
        Ok(())
    }

    /// Flushes every file and rewinds it for reading.
    pub(super) fn finish_writing(&mut self) -> Result<()> {
        for s in &mut self.shards {
            s.read = 0;
            s.file.flush().map_err(|e| io("writing", e))?;
            s.file
                .get_mut()
                .seek(SeekFrom::Start(0))
                .map_err(|e| io("rewinding", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_limit_is_raised_or_the_shortfall_named() {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        ensure_open_files(lim.rlim_cur, "nothing").unwrap();
        if lim.rlim_max != libc::RLIM_INFINITY && lim.rlim_max < (1 << 40) {
            let e = ensure_open_files(lim.rlim_max + 1, "copying 9 shards")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("copying 9 shards needs about") && e.contains("ulimit -n"),
                "{e}"
            );
        }
    }

    #[test]
    fn write_buffers_are_shared_out_among_shards() {
        assert_eq!(write_buffer(32), 64 << 10);
        assert_eq!(write_buffer(128), 16 << 10);
        assert_eq!(write_buffer(4096), 8 << 10);
    }

    #[test]
    fn rows_come_back_per_shard_and_reset_starts_over() {
        let mut spill = Spill::new(3).unwrap();
        // A longer first chunk: what is left of it in the files must not come back later.
        spill.push(0, b"old row that is longer\n").unwrap();
        spill.push(1, b"old\n").unwrap();
        spill.finish_writing().unwrap();
        for round in 0..2 {
            spill.reset().unwrap();
            spill.push(0, b"a\n").unwrap();
            spill.push(2, b"b\n").unwrap();
            spill.push(0, b"c\n").unwrap();
            spill.finish_writing().unwrap();
            let mut all = Vec::new();
            while let Some(p) = spill.shards[0].read_piece(3).unwrap() {
                all.extend_from_slice(&p);
            }
            assert_eq!(all, b"a\nc\n", "round {round}");
            assert_eq!((spill.shards[0].rows, spill.shards[0].bytes), (2, 4));
            assert_eq!(spill.shards[1].rows, 0);
            assert!(spill.shards[1].read_piece(8).unwrap().is_none());
            assert_eq!(spill.shards[2].read_piece(8).unwrap().unwrap(), &b"b\n"[..]);
        }
    }
}
