// ImageNet-style image folders: root/<class>/*.{jpg,jpeg,png}.
//
// Classes are the sub-folders of root sorted by name (class k = k-th name),
// images inside a class are taken in name order. Every image is decoded to
// RGB (grey and RGBA files are converted), its shorter side resized to `size`
// (bilinear) and the centre size x size square cropped out — the usual
// evaluation transform (torchvision's Resize(size) + CenterCrop(size)).
// The whole set is kept in memory as uint8 (3 * size * size bytes an image).
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace taper {

// The class folder names of root, sorted. Throws Error when root is not a
// directory or has no sub-folders.
std::vector<std::string> list_classes(const std::string& root);

// Loads every image of root as (n, 3, size, size). Throws Error naming the
// folder when a class folder holds no image, and naming the file when an
// image does not decode.
Dataset load_image_folder(const std::string& root, int64_t size);

// Resizes an interleaved image so that its shorter side is `size`, bilinear
// (pixel centres aligned, as PIL and torchvision do; the longer side is
// floor(long * size / short)), then crops the centred size x size square.
//   src (H, W, C) uint8 interleaved, as stb_image decodes
//   dst (C, size, size) uint8 planar
void resize_center_crop(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t size,
                        uint8_t* dst);

}  // namespace taper
