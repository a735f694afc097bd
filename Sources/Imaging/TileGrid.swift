/// Pictures of what a network holds: tiles (feature-map channels as gray, first-layer kernels as RGB)
/// laid out in a grid on a dark background, each with its index written above it in a 3x5 pixel font.
public struct TileGrid {
    /// One tile: `side × side` RGB pixels.
    public struct Tile {
        public var pixels: [UInt8]
        public var side: Int
        public var label: Int
    }

    /// A gray tile of a (h × w) map, scaled to 0–255 over its own range and enlarged to at least `minimum` pixels a side.
    public static func grayTile(_ values: ArraySlice<Float>, height: Int, width: Int, label: Int, minimum: Int = 48) -> Tile {
        tile(values, planes: [0, 0, 0], height: height, width: width, label: label, minimum: minimum)
    }

    /// An RGB tile of a (3, h, w) kernel, scaled to 0–255 over the kernel's range, enlarged to `minimum`.
    public static func colorTile(_ values: ArraySlice<Float>, height: Int, width: Int, label: Int, minimum: Int = 48) -> Tile {
        tile(values, planes: [0, 1, 2], height: height, width: width, label: label, minimum: minimum)
    }

    /// Output channel c of each pixel reads input plane `planes[c]` (all 0 for gray).
    private static func tile(_ values: ArraySlice<Float>, planes: [Int], height: Int, width: Int, label: Int, minimum: Int) -> Tile {
        let (low, high) = (values.min() ?? 0, values.max() ?? 0)
        let scale = max(1, (minimum + max(height, width) - 1) / max(height, width))
        let side = max(height, width) * scale
        let plane = height * width
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<(height * scale) {
            for x in 0..<(width * scale) {
                for c in 0..<3 {
                    let v = values[values.startIndex + planes[c] * plane + (y / scale) * width + x / scale]
                    pixels[(y * side + x) * 3 + c] = high > low ? UInt8(((v - low) / (high - low) * 255).rounded()) : 0
                }
            }
        }
        return Tile(pixels: pixels, side: side, label: label)
    }

    /// The tiles in rows of ⌈√n⌉, each under a 7-pixel strip with its label.
    public static func render(_ tiles: [Tile]) -> RGBImage {
        guard let side = tiles.map(\.side).max(), !tiles.isEmpty else { return RGBImage(width: 1, height: 1, pixels: [0, 0, 0]) }
        let columns = Int(Double(tiles.count).squareRoot().rounded(.up)), rows = (tiles.count + columns - 1) / columns
        let (gap, strip) = (2, 7)
        let (cellW, cellH) = (side + gap, side + strip + gap)
        let (width, height) = (columns * cellW + gap, rows * cellH + gap)
        var pixels = [UInt8](repeating: 32, count: width * height * 3)
        for (index, tile) in tiles.enumerated() {
            let (left, top) = (gap + (index % columns) * cellW, gap + (index / columns) * cellH)
            drawNumber(tile.label, x: left, y: top + 1, into: &pixels, width: width)
            for y in 0..<tile.side {
                let row = ((top + strip + y) * width + left) * 3
                pixels.replaceSubrange(row..<(row + tile.side * 3), with: tile.pixels[(y * tile.side * 3)..<((y + 1) * tile.side * 3)])
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// 3x5 digits, one row of bits per line (most significant bit left).
    private static let digits: [[UInt8]] = [
        [7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 7, 1, 7], [5, 5, 7, 1, 1],
        [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 1, 1, 1], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7],
    ]

    private static func drawNumber(_ number: Int, x: Int, y: Int, into pixels: inout [UInt8], width: Int) {
        for (offset, character) in String(number).enumerated() {
            guard let digit = character.wholeNumberValue else { continue }
            for (row, bits) in digits[digit].enumerated() {
                for column in 0..<3 where bits & (4 >> column) != 0 {
                    let p = ((y + row) * width + x + offset * 4 + column) * 3
                    guard p + 2 < pixels.count else { continue }
                    pixels[p] = 230; pixels[p + 1] = 230; pixels[p + 2] = 120
                }
            }
        }
    }
}
