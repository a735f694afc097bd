/// Resizing exactly as Pillow 9–13 does for 8-bit RGB images (libImaging/Geometry.c and Resample.c), so
/// that tensors match what Keras's `load_img` and torchvision's `Resize` hand the network:
/// - `nearest`: `Image.resize(size, NEAREST)` — `ImagingScaleAffine`, source positions accumulated in
///   double from half a step;
/// - `bilinear`: `Image.resize(size, BILINEAR)` — separable triangle filter widened by the scale when
///   shrinking (antialiasing), 22-bit fixed-point coefficients, horizontal pass then vertical, each
///   rounded and clipped to 8 bits.
public enum PILResize {
    public static func nearest(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        func positions(_ input: Int, _ output: Int) -> [Int] {
            let step = Double(input) / Double(output)
            var position = step * 0.5
            return (0..<output).map { _ in
                defer { position += step }
                return position < 0 ? -1 : min(Int(position), input - 1)
            }
        }
        let (xs, ys) = (positions(image.width, width), positions(image.height, height))
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for (y, sy) in ys.enumerated() {
            for (x, sx) in xs.enumerated() {
                let (to, from) = ((y * width + x) * 3, (sy * image.width + sx) * 3)
                out[to] = image.pixels[from]; out[to + 1] = image.pixels[from + 1]; out[to + 2] = image.pixels[from + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    public static func bilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        return bilinear(image, width: width, height: height, columns: 0..<width, rows: 0..<height)
    }

    /// The pixels `columns × rows` of `bilinear(image, width:, height:)`, computed without the rest, so
    /// time and memory follow the window, not the resized size (a 1×60,000 photo resized to 256 on its
    /// short side would be 256×15,360,000 pixels). A pass whose size does not change is skipped, as
    /// Pillow skips it.
    static func bilinear(_ image: RGBImage, width: Int, height: Int, columns: Range<Int>, rows: Range<Int>) -> RGBImage {
        let horizontal = width == image.width ? nil : Coefficients(input: image.width, output: width, positions: columns)
        let vertical = height == image.height ? nil : Coefficients(input: image.height, output: height, positions: rows)
        // Only the source rows the vertical pass reads go through the horizontal pass.
        let sourceRows = vertical?.inputRange ?? rows
        var middle = [UInt8](repeating: 0, count: columns.count * sourceRows.count * 3)
        for (row, y) in sourceRows.enumerated() {
            for (column, x) in columns.enumerated() {
                let o = (row * columns.count + column) * 3
                guard let horizontal else {
                    let p = (y * image.width + x) * 3
                    middle[o] = image.pixels[p]; middle[o + 1] = image.pixels[p + 1]; middle[o + 2] = image.pixels[p + 2]
                    continue
                }
                let (start, count) = horizontal.bounds[column]
                var sums = (Self.half, Self.half, Self.half)
                for k in 0..<count {
                    let weight = horizontal.weights[column * horizontal.size + k], p = ((y * image.width) + start + k) * 3
                    sums.0 += Int32(image.pixels[p]) * weight
                    sums.1 += Int32(image.pixels[p + 1]) * weight
                    sums.2 += Int32(image.pixels[p + 2]) * weight
                }
                middle[o] = clip(sums.0); middle[o + 1] = clip(sums.1); middle[o + 2] = clip(sums.2)
            }
        }
        guard let vertical else { return RGBImage(width: columns.count, height: rows.count, pixels: middle) }
        var out = [UInt8](repeating: 0, count: columns.count * rows.count * 3)
        for row in 0..<rows.count {
            let (start, count) = vertical.bounds[row]
            for column in 0..<columns.count {
                var sums = (Self.half, Self.half, Self.half)
                for k in 0..<count {
                    let weight = vertical.weights[row * vertical.size + k]
                    let p = ((start - sourceRows.lowerBound + k) * columns.count + column) * 3
                    sums.0 += Int32(middle[p]) * weight
                    sums.1 += Int32(middle[p + 1]) * weight
                    sums.2 += Int32(middle[p + 2]) * weight
                }
                let o = (row * columns.count + column) * 3
                out[o] = clip(sums.0); out[o + 1] = clip(sums.1); out[o + 2] = clip(sums.2)
            }
        }
        return RGBImage(width: columns.count, height: rows.count, pixels: out)
    }

    /// Pillow's PRECISION_BITS for 8-bit images.
    static let precision: Int32 = 32 - 8 - 2
    static let half: Int32 = 1 << (precision - 1)

    static func clip(_ sum: Int32) -> UInt8 {
        let value = sum >> precision
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(value)
    }

    /// Pillow's `precompute_coeffs` with the bilinear (triangle) filter, normalised and then rounded to
    /// fixed point as `normalize_coeffs_8bpc` does.
    struct Coefficients {
        /// Per output position of the window: the first input index and how many inputs contribute.
        var bounds: [(start: Int, count: Int)] = []
        /// `size` weights per output position of the window.
        var weights: [Int32] = []
        var size: Int

        /// The input positions the window reads.
        var inputRange: Range<Int> {
            let used = bounds.filter { $0.count > 0 }
            guard let low = used.map(\.start).min(), let high = used.map({ $0.start + $0.count }).max() else { return 0..<0 }
            return low..<high
        }

        /// The coefficients of the output positions `positions` of a resize from `input` to `output`.
        init(input: Int, output: Int, positions: Range<Int>) {
            let scale = Double(input) / Double(output)
            let filterScale = max(scale, 1)
            let support = 1.0 * filterScale
            size = Int(support.rounded(.up)) * 2 + 1
            for x in positions {
                let center = (Double(x) + 0.5) * scale
                let inverse = 1 / filterScale
                let low = max(Int(center - support + 0.5), 0)
                let high = min(Int(center - -support + 0.5), input)
                var row = [Double](repeating: 0, count: size)
                var total = 0.0
                for k in 0..<(high - low) {
                    let distance = abs((Double(k + low) - center + 0.5) * inverse)
                    let weight = distance < 1 ? 1 - distance : 0
                    row[k] = weight
                    total += weight
                }
                if total != 0 { for k in 0..<(high - low) { row[k] /= total } }
                bounds.append((low, high - low))
                weights += row.map { $0 < 0 ? Int32(-0.5 + $0 * Double(1 << PILResize.precision)) : Int32(0.5 + $0 * Double(1 << PILResize.precision)) }
            }
        }
    }

    /// torchvision's `CenterCrop`: the top-left corner at Python's `round((size - crop) / 2)` (ties to even),
    /// zeros where the crop reaches past the image.
    public static func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        bilinearCenterCrop(image, width: image.width, height: image.height, cropWidth: width, cropHeight: height)
    }

    /// `centerCrop(bilinear(image, width:, height:), width: cropWidth, height: cropHeight)` — torchvision's
    /// `Resize` then `CenterCrop` — resampling only the pixels the crop keeps.
    public static func bilinearCenterCrop(_ image: RGBImage, width: Int, height: Int, cropWidth: Int, cropHeight: Int) -> RGBImage {
        func offset(_ size: Int, _ crop: Int) -> Int { Int((Double(size - crop) / 2).rounded(.toNearestOrEven)) }
        let (top, left) = (offset(height, cropHeight), offset(width, cropWidth))
        let columns = max(left, 0)..<min(left + cropWidth, width), rows = max(top, 0)..<min(top + cropHeight, height)
        let window = bilinear(image, width: width, height: height, columns: columns, rows: rows)
        if columns.count == cropWidth && rows.count == cropHeight { return window }
        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)  // torchvision pads with 0
        for y in 0..<rows.count {
            let to = ((rows.lowerBound - top + y) * cropWidth + columns.lowerBound - left) * 3
            out[to..<(to + columns.count * 3)] = window.pixels[(y * columns.count * 3)..<((y + 1) * columns.count * 3)]
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }
}
