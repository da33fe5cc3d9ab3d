//! Image folders as torchvision's `ImageFolder` reads them: one sub-folder per class (classes
//! in name order, labels 0, 1, …), PNG and JPEG files inside (name order), decoded by the
//! `image` crate, optionally resized, as `[channels, height, width]` inputs in [0, 1].
//! Decoding is parsing only; a file that does not decode is an error naming it.

use std::path::{Path, PathBuf};

use super::{Dataset, InputRange};
use crate::error::{MlError, Result};

/// How to turn files into inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImageOptions {
    /// Resize every image to (height, width), bilinear (`image`'s triangle filter). Without
    /// it every image must already have the first one's size.
    pub size: Option<(u32, u32)>,
    /// One luminance channel instead of RGB (alpha is dropped either way).
    pub grayscale: bool,
}

impl ImageOptions {
    pub fn channels(&self) -> usize {
        if self.grayscale {
            1
        } else {
            3
        }
    }

    /// For reports: what was done to the files.
    pub fn describe(&self) -> String {
        let colour = if self.grayscale { "grayscale" } else { "RGB" };
        match self.size {
            Some((h, w)) => format!("{colour}, resized to {h}×{w} (bilinear), pixels/255"),
            None => format!("{colour}, original size, pixels/255"),
        }
    }
}

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| MlError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect::<Result<_>>()?;
    entries.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
    });
    entries.sort();
    Ok(entries)
}

/// The files of an image folder, listed without decoding any: what a run that reads the
/// images a part at a time needs up front.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFiles {
    /// Sub-folder names, in label order.
    pub classes: Vec<String>,
    /// Every image file and its label, classes in order and files in name order.
    pub files: Vec<(PathBuf, usize)>,
}

/// The class names (sub-folder names, in order) and their files.
pub fn list_folder(dir: &Path) -> Result<ImageFiles> {
    let classes: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if classes.len() < 2 {
        return Err(MlError::Format {
            path: dir.to_path_buf(),
            message: format!(
                "expected one sub-folder per class (at least two), found {}",
                classes.len()
            ),
        });
    }
    let mut names = Vec::new();
    let mut all = Vec::new();
    for (label, class_dir) in classes.iter().enumerate() {
        names.push(
            class_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let files: Vec<PathBuf> = sorted_entries(class_dir)?
            .into_iter()
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        if files.is_empty() {
            return Err(MlError::Format {
                path: class_dir.clone(),
                message: "the class folder holds no .png, .jpg or .jpeg file".into(),
            });
        }
        all.extend(files.into_iter().map(|f| (f, label)));
    }
    Ok(ImageFiles {
        classes: names,
        files: all,
    })
}

/// Decodes one file into `out` as `[channels, height, width]` values in [0, 1]. `shape` is
/// the size every image must have (or is resized to); the first image sets it when unset.
pub fn decode_into(
    file: &Path,
    options: &ImageOptions,
    shape: &mut Option<(u32, u32)>,
    out: &mut Vec<f32>,
) -> Result<()> {
    let bad = |message: String| MlError::Format {
        path: file.to_path_buf(),
        message,
    };
    let decoded = image::ImageReader::open(file)
        .map_err(|source| MlError::Io {
            path: file.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|e| bad(format!("cannot read: {e}")))?
        .decode()
        .map_err(|e| bad(format!("not a decodable image: {e}")))?;
    let (want_h, want_w) = *shape.get_or_insert((decoded.height(), decoded.width()));
    let decoded = if (decoded.height(), decoded.width()) == (want_h, want_w) {
        decoded
    } else if options.size.is_some() {
        decoded.resize_exact(want_w, want_h, image::imageops::FilterType::Triangle)
    } else {
        return Err(bad(format!(
            "{}×{} pixels, but the first image is {want_h}×{want_w}; give --image-size H,W to resize them all",
            decoded.height(),
            decoded.width()
        )));
    };
    let plane = (want_h * want_w) as usize;
    let channels = options.channels();
    let start = out.len();
    out.resize(start + channels * plane, 0.0);
    let out = &mut out[start..];
    if options.grayscale {
        for (o, p) in out.iter_mut().zip(decoded.to_luma8().pixels()) {
            *o = p.0[0] as f32 / 255.0;
        }
    } else {
        for (i, p) in decoded.to_rgb8().pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = p.0[c] as f32 / 255.0;
            }
        }
    }
    Ok(())
}

/// The class names (sub-folder names, in order) and the dataset.
pub fn load_folder(dir: &Path, options: &ImageOptions) -> Result<(Vec<String>, Dataset)> {
    let listed = list_folder(dir)?;
    let mut shape: Option<(u32, u32)> = options.size;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (file, label) in &listed.files {
        decode_into(file, options, &mut shape, &mut x)?;
        y.push(*label);
    }
    let (h, w) = shape.unwrap_or((0, 0));
    let dataset = Dataset::new(
        format!("images:{} ({})", dir.display(), options.describe()),
        x,
        y,
        vec![options.channels(), h as usize, w as usize],
        Some(listed.classes.len()),
        Some(InputRange { lo: 0.0, hi: 1.0 }),
    )?;
    Ok((listed.classes, dataset))
}
