import CKernels
import Foundation

/// A 3×3, stride-1, 'same' convolution by Winograd F(4×4, 3×3): 36 matrix products of
/// (K × C)·(C × tiles) instead of one (K × 9C)·(9C × pixels) — 4× fewer multiplications on the layers
/// that are ~99% of VGG's work. Weights are transformed once, at load; tiles are processed in blocks
/// sized to stay in cache; bias and ReLU are applied in the output transform.
struct WinogradConvolution: @unchecked Sendable {
    /// Packed U, freed with the last copy of this step (also when compilation fails after it).
    private let storage: PackedFloats
    var transformed: UnsafeMutablePointer<Float> { storage.pointer }
    let bias: [Float]
    let inputChannels: Int, outputChannels: Int
    let activation: Elementwise

    init(weights: UnsafePointer<Float>, bias: [Float], inputChannels: Int, outputChannels: Int, activation: Elementwise) {
        storage = PackedFloats(count: CKernels_winograd43_packed_count(outputChannels, inputChannels))
        let transformed = storage.pointer
        let pointers = SendablePointers(input: weights, output: transformed)
        Parallel.forEachChunk(Self.panelCount(outputChannels)) { panels in
            CKernels_winograd43_weights(pointers.input, outputChannels, inputChannels, panels.lowerBound, panels.upperBound, pointers.output)
        }
        self.bias = bias
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.activation = activation
    }

    /// Output channels per panel of the multiply stage.
    private static let panelRows = Int(CKERNELS_WINOGRAD_PANEL_ROWS)
    private static func panelCount(_ outputChannels: Int) -> Int { (outputChannels + panelRows - 1) / panelRows }
    private var panels: Int { Self.panelCount(outputChannels) }
    /// Output channels rounded up to whole panels.
    private var paddedOutputChannels: Int { panels * Self.panelRows }

    /// Tiles per block for `tiles` tiles: one coordinate's slice of V (C × tiles floats) stays within
    /// `sliceBytes`, so it is read from L2 by every panel of output channels; the whole block (V and M)
    /// stays in L3. Each block reads all of U once: images batched into one run share those reads.
    func tilesPerBlock(tiles: Int) -> Int {
        let limit = tileLimit
        let blocks = (tiles + limit - 1) / limit
        return (tiles + blocks - 1) / blocks
    }

    /// The most tiles a block holds, whatever the image size and count.
    private var tileLimit: Int { max(16, Self.sliceBytes / (4 * inputChannels) / 16 * 16) }

    static let sliceBytes = 96 << 10

    /// Scratch floats for V and M of the largest block `run` forms, whatever the image size and count.
    func scratchCount() -> Int { 36 * (inputChannels + paddedOutputChannels) * Self.roundUp8(tileLimit) }

    private static func roundUp8(_ n: Int) -> Int { (n + 7) / 8 * 8 }

    /// Convolves `images` C × H × W inputs stored one after another into as many K × H × W outputs, their
    /// tiles in common blocks; `pooled`: into K × H/2 × W/2 outputs, each the 2 × 2 / stride 2 'valid' max
    /// pool of the convolution's (no full-size map is written). `scratch` holds `scratchCount()` floats.
    /// Pooling needs `activation` to be ReLU or linear (applied in the output transform).
    func run(input: UnsafePointer<Float>, images: Int = 1, height: Int, width: Int, pooled: Bool = false,
             output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        precondition(!pooled || Self.poolable(activation), "only an activation applied in the output transform can precede the pool")
        let tiles = images * ((height + 3) / 4) * ((width + 3) / 4)
        let block = tilesPerBlock(tiles: tiles)
        let (C, K) = (inputChannels, outputChannels)
        let shared = SharedState(input: input, output: output, v: scratch, m: scratch + 36 * C * Self.roundUp8(block), u: transformed)
        let relu: Int32 = activation == .relu ? 1 : 0
        let bias = self.bias
        var first = 0
        while first < tiles {
            let count = min(block, tiles - first)
            let start = first
            Parallel.forEachChunk(C) { channels in
                CKernels_winograd43_input(shared.input, C, height, width, start, count, channels.lowerBound, channels.upperBound, shared.v)
            }
            // Each core multiplies and transforms back its own cell of output channels × tiles: no barrier in between.
            let grid = Self.grid(panels: panels, tiles: count, cores: Parallel.cores)
            Parallel.forEachChunk(grid.cells) { cells in
                for cell in cells {
                    let (panels, tiles) = grid.cell(cell)
                    CKernels_winograd43_multiply(shared.u, shared.v, K, C, count, panels.lowerBound, panels.upperBound,
                                                 tiles.lowerBound, tiles.upperBound, shared.m)
                    bias.withUnsafeBufferPointer { b in
                        CKernels_winograd43_output(shared.m, K, height, width, start, count, tiles.lowerBound, tiles.upperBound,
                                                   panels.lowerBound * Self.panelRows, min(K, panels.upperBound * Self.panelRows),
                                                   b.baseAddress, relu, pooled ? 1 : 0, shared.output)
                    }
                }
            }
            first += count
        }
        if !Self.poolable(activation) { activation.apply(output, count: images * K * height * width) }
    }

    /// Whether the output transform applies `activation` itself (so a max pool can follow it there).
    static func poolable(_ activation: Elementwise) -> Bool { activation == .relu || activation == .linear }

    /// How the multiply and output stages of a block split over cores: `panelParts` × `tileParts` cells,
    /// one per core, each a contiguous range of output-channel panels and of 16-tile column panels.
    struct Grid: Equatable {
        let panels: Int, tiles: Int
        let panelParts: Int, tileParts: Int
        var cells: Int { panelParts * tileParts }

        /// Panels and tiles of cell `index` (either may be empty when the grid is larger than the work).
        func cell(_ index: Int) -> (panels: Range<Int>, tiles: Range<Int>) {
            let panelChunk = (panels + panelParts - 1) / panelParts
            let tileChunk = (columnPanels + tileParts - 1) / tileParts * WinogradConvolution.panelColumns
            let (p, t) = (index / tileParts, index % tileParts)
            return (min(panels, p * panelChunk)..<min(panels, (p + 1) * panelChunk),
                    min(tiles, t * tileChunk)..<min(tiles, (t + 1) * tileChunk))
        }

        var columnPanels: Int { (tiles + WinogradConvolution.panelColumns - 1) / WinogradConvolution.panelColumns }
    }

    static let panelColumns = Int(CKERNELS_WINOGRAD_PANEL_COLUMNS)

    /// The split whose busiest core has the least work (panels × column panels). Splitting tiles makes each
    /// of those cores read all of U (36 MiB for a 512 → 512 layer), so among equal splits the one with the
    /// fewest tile parts wins. VGG's 64-channel layers have 11 panels: 6 + 5 on two cores, 2 each on only 6
    /// of 8 before tiles were split too.
    static func grid(panels: Int, tiles: Int, cores: Int) -> Grid {
        let columnPanels = (tiles + panelColumns - 1) / panelColumns
        var best = Grid(panels: panels, tiles: tiles, panelParts: max(1, min(cores, panels)), tileParts: 1)
        var bestWork = Int.max
        for tileParts in 1...max(1, min(cores, columnPanels)) {
            let panelParts = max(1, min(panels, cores / tileParts))
            let work = ((panels + panelParts - 1) / panelParts) * ((columnPanels + tileParts - 1) / tileParts)
            if work < bestWork { (best, bestWork) = (Grid(panels: panels, tiles: tiles, panelParts: panelParts, tileParts: tileParts), work) }
        }
        return best
    }

    private struct SharedState: @unchecked Sendable {
        let input: UnsafePointer<Float>
        let output: UnsafeMutablePointer<Float>
        let v: UnsafeMutablePointer<Float>
        let m: UnsafeMutablePointer<Float>
        let u: UnsafeMutablePointer<Float>
    }
}
