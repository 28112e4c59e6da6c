//! Layer compression: gzip (RFC 1952) compressed in parallel blocks, and
//! zstd (RFC 8878). Both are deterministic: the output depends only on the
//! input bytes and the level, never on the number of threads or timing.
//!
//! gzip follows pigz: the input is cut into [`BLOCK`]-byte blocks, each
//! compressed as raw deflate primed with the previous block's last 32 KiB
//! as dictionary and ended with a sync flush (an empty stored block), the
//! last one with the final block bit. The blocks concatenate into one
//! single-member deflate stream that every gzip reader accepts; block
//! boundaries are fixed by offset, so the result is the same whether one
//! core or eight compress it.

use std::io::{self, Write};

use flate2::{Compress, Compression as Level, FlushCompress, Status};

/// Bytes per independently compressed gzip block.
pub const BLOCK: usize = 1 << 20;
/// Deflate window (dictionary) size.
const WINDOW: usize = 32 << 10;

/// A writer producing a gzip stream of what is written, compressing
/// `threads` blocks at a time in parallel. Call [`ParallelGzip::finish`].
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    threads: usize,
    /// Filled blocks waiting for compression (the last may be partial).
    pending: Vec<Vec<u8>>,
    /// The last 32 KiB of input before `pending[0]`.
    dict: Vec<u8>,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<W: Write> ParallelGzip<W> {
    /// A compressor at gzip `level` (0–9) using up to `threads` threads.
    pub fn new(mut out: W, level: u32, threads: usize) -> io::Result<Self> {
        // RFC 1952 header: no name, mtime 0, XFL 0, OS 255 (unknown).
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        Ok(ParallelGzip {
            out,
            level,
            threads: threads.max(1),
            pending: Vec::new(),
            dict: Vec::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
        })
    }

    fn compress_pending(&mut self, last: bool) -> io::Result<()> {
        let blocks = std::mem::take(&mut self.pending);
        if blocks.is_empty() && !last {
            return Ok(());
        }
        let blocks = if blocks.is_empty() { vec![Vec::new()] } else { blocks };
        let dicts: Vec<&[u8]> =
            (0..blocks.len()).map(|i| if i == 0 { self.dict.as_slice() } else { tail(&blocks[i - 1]) }).collect();
        let n = blocks.len();
        let level = self.level;
        let outputs: Vec<io::Result<Vec<u8>>> = if self.threads == 1 || n == 1 {
            (0..n).map(|i| deflate_block(&blocks[i], dicts[i], level, last && i + 1 == n)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (b, d) = (&blocks[i], dicts[i]);
                        s.spawn(move || deflate_block(b, d, level, last && i + 1 == n))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("compressor panicked"))))
                    .collect()
            })
        };
        for o in outputs {
            self.out.write_all(&o?)?;
        }
        self.dict = tail(blocks.last().map(Vec::as_slice).unwrap_or(&[])).to_vec();
        Ok(())
    }

    /// Write the last blocks and the trailer (CRC32, size mod 2^32);
    /// returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.compress_pending(true)?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.size as u32).to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn tail(b: &[u8]) -> &[u8] {
    &b[b.len().saturating_sub(WINDOW)..]
}

fn deflate_block(input: &[u8], dict: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Level::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(input.len() / 2 + 1024);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    loop {
        out.reserve(64 << 10);
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&input[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == input.len();
        // zlib's rule: the flush is complete once all input is consumed and
        // the call did not fill the output buffer.
        if (last && status == Status::StreamEnd) || (!last && all_in && out.len() < out.capacity()) {
            break;
        }
    }
    Ok(out)
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc.update(buf);
        self.size += buf.len() as u64;
        let mut rest = buf;
        while !rest.is_empty() {
            if self.pending.last().is_none_or(|b| b.len() == BLOCK) {
                if self.pending.len() == self.threads {
                    self.compress_pending(false)?;
                }
                self.pending.push(Vec::with_capacity(BLOCK));
            }
            let cur = self.pending.last_mut().expect("a block");
            let take = (BLOCK - cur.len()).min(rest.len());
            cur.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial: text with a counter.
        let mut v = Vec::with_capacity(n);
        let mut i = 0u64;
        while v.len() < n {
            v.extend_from_slice(format!("line {i} of the sample {}\n", i * 7919 % 1000).as_bytes());
            i += 1;
        }
        v.truncate(n);
        v
    }

    fn gz(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut g = ParallelGzip::new(Vec::new(), 6, threads).unwrap();
        for c in data.chunks(chunk.max(1)) {
            g.write_all(c).unwrap();
        }
        g.finish().unwrap()
    }

    #[test]
    fn output_is_valid_gzip_and_independent_of_threads_and_write_sizes() {
        for n in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345, 4 * BLOCK] {
            let data = sample(n);
            let one = gz(&data, 1, 1 << 16);
            assert_eq!(gz(&data, 4, 777_777), one, "size {n}");
            assert_eq!(gz(&data, 2, 1 << 20), one, "size {n}");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(one.as_slice()).read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "size {n}");
            // A single-member stream: nothing follows the trailer.
            let mut dec = flate2::bufread::GzDecoder::new(one.as_slice());
            dec.read_to_end(&mut Vec::new()).unwrap();
            assert!(dec.into_inner().is_empty(), "size {n}: trailing bytes after the gzip member");
        }
    }

    #[test]
    fn dictionary_keeps_ratio_close_to_one_stream() {
        let data = sample(4 * BLOCK);
        let par = gz(&data, 2, 1 << 20).len() as f64;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Level::new(6));
        e.write_all(&data).unwrap();
        let whole = e.finish().unwrap().len() as f64;
        assert!(par / whole < 1.01, "parallel {par} vs whole {whole}");
    }
}
