//! Data read a part at a time: a `.npy` file's rows or an image folder's files, decoded
//! only when their part is asked for, so that a run over a folder larger than memory holds
//! one part's inputs. Labels (a few bytes an input) are read up front.

use std::path::{Path, PathBuf};

use super::images::{self, ImageOptions};
use super::npy::{self, NpyHeader};
use super::{Dataset, InputRange};
use crate::error::{MlError, Result};

enum Rows {
    Npy {
        path: PathBuf,
        header: NpyHeader,
    },
    Images {
        files: Vec<PathBuf>,
        options: ImageOptions,
        size: (u32, u32),
    },
}

/// Inputs on disk, read in parts by [`StreamedData::part`].
pub struct StreamedData {
    pub name: String,
    pub sample_shape: Vec<usize>,
    pub labels: Vec<usize>,
    /// The classes of the whole source: a part need not hold every label.
    pub num_classes: usize,
    pub input_range: Option<InputRange>,
    rows: Rows,
}

impl StreamedData {
    /// `.npy` inputs (examples on the first axis, C order) with `.npy` labels.
    pub fn npy(data: &Path, labels: &Path) -> Result<StreamedData> {
        let header = npy::read_header(data)?;
        if header.shape.is_empty() {
            return Err(MlError::Format {
                path: data.to_path_buf(),
                message: "expected an array with a leading example axis, found a scalar".into(),
            });
        }
        let y = super::labels_for(&npy::read(labels)?, labels, header.rows(), data)?;
        let sample_shape = if header.shape.len() == 1 {
            vec![1]
        } else {
            header.shape[1..].to_vec()
        };
        let name = data
            .file_stem()
            .map_or("data".into(), |s| s.to_string_lossy().into_owned());
        Ok(StreamedData {
            name,
            sample_shape,
            num_classes: y.iter().max().map_or(0, |m| m + 1),
            labels: y,
            input_range: None,
            rows: Rows::Npy {
                path: data.to_path_buf(),
                header,
            },
        })
    }

    /// An image folder in torchvision's `ImageFolder` layout ([`images::load_folder`]'s
    /// rules); the first image is decoded now to learn the size when none is given.
    pub fn images(dir: &Path, options: &ImageOptions) -> Result<(Vec<String>, StreamedData)> {
        let listed = images::list_folder(dir)?;
        let size = match options.size {
            Some(size) => size,
            None => {
                let mut size = None;
                images::decode_into(&listed.files[0].0, options, &mut size, &mut Vec::new())?;
                size.unwrap_or((0, 0))
            }
        };
        let (files, labels): (Vec<PathBuf>, Vec<usize>) = listed.files.into_iter().unzip();
        let data = StreamedData {
            name: format!("images:{} ({})", dir.display(), options.describe()),
            sample_shape: vec![options.channels(), size.0 as usize, size.1 as usize],
            labels,
            num_classes: listed.classes.len(),
            input_range: Some(InputRange { lo: 0.0, hi: 1.0 }),
            rows: Rows::Images {
                files,
                options: *options,
                size,
            },
        };
        Ok((listed.classes, data))
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Keeps the first `n` inputs.
    pub fn truncate(&mut self, n: usize) {
        self.labels.truncate(n);
        if let Rows::Images { files, .. } = &mut self.rows {
            files.truncate(n);
        }
    }

    /// Inputs `start..start + count` (fewer at the end), checked as any dataset is.
    pub fn part(&self, start: usize, count: usize) -> Result<Dataset> {
        let end = start.saturating_add(count).min(self.len());
        let start = start.min(end);
        let x = match &self.rows {
            Rows::Npy { path, header } => npy::read_rows_f32(path, header, start, end - start)?,
            Rows::Images {
                files,
                options,
                size,
            } => {
                let mut x = Vec::with_capacity((end - start) * self.features());
                for file in &files[start..end] {
                    images::decode_into(file, options, &mut Some(*size), &mut x)?;
                }
                x
            }
        };
        Dataset::new(
            format!("{} [{start}..{end}]", self.name),
            x,
            self.labels[start..end].to_vec(),
            self.sample_shape.clone(),
            Some(self.num_classes.max(1)),
            self.input_range,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aisec-stream-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn npy_parts_join_into_the_whole_file() {
        let dir = temp("npy");
        let (x_path, y_path) = (dir.join("x.npy"), dir.join("y.npy"));
        let x: Vec<f32> = (0..7 * 4).map(|i| (i % 11) as f32 / 10.0).collect();
        npy::write_f32(&x_path, &[7, 1, 2, 2], &x).unwrap();
        npy::write_i64(&y_path, &[0, 1, 2, 0, 1, 2, 0]).unwrap();
        let whole = super::super::load_npy_pair(&x_path, &y_path, None).unwrap();
        let mut streamed = StreamedData::npy(&x_path, &y_path).unwrap();
        assert_eq!(streamed.sample_shape, vec![1, 2, 2]);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for start in (0..streamed.len()).step_by(3) {
            let part = streamed.part(start, 3).unwrap();
            assert_eq!(part.num_classes, 3, "a part keeps the source's classes");
            xs.extend(part.x);
            ys.extend(part.y);
        }
        assert_eq!((xs, ys), (whole.x, whole.y));
        streamed.truncate(2);
        assert_eq!(streamed.part(0, 10).unwrap().len(), 2);
        npy::write_i64(&y_path, &[0, 1]).unwrap();
        let err = StreamedData::npy(&x_path, &y_path)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("7 examples") && err.contains("2 labels"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn image_parts_join_into_the_whole_folder() {
        let dir = temp("images");
        for (class, shades) in [("cat", [10u8, 200]), ("dog", [90, 250])] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            for (k, shade) in shades.iter().enumerate() {
                let img = image::RgbImage::from_fn(3, 2, |x, y| {
                    image::Rgb([*shade, (x * 40) as u8, (y * 90) as u8])
                });
                img.save(dir.join(class).join(format!("{k}.png"))).unwrap();
            }
        }
        let options = ImageOptions::default();
        let (classes, whole) = images::load_folder(&dir, &options).unwrap();
        let (streamed_classes, streamed) = StreamedData::images(&dir, &options).unwrap();
        assert_eq!(classes, streamed_classes);
        assert_eq!(streamed.sample_shape, whole.sample_shape);
        let mut xs = streamed.part(0, 3).unwrap().x;
        xs.extend(streamed.part(3, 3).unwrap().x);
        assert_eq!(xs, whole.x);
        // A file that stops decoding between listing and reading is named when its part is read.
        std::fs::write(dir.join("dog").join("1.png"), b"not a png").unwrap();
        let err = streamed.part(2, 2).unwrap_err().to_string();
        assert!(err.contains("1.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
