import Foundation
import Imaging
import Inference
import FileIO
import VGGCore

/// `vggconv features`: one layer's activations for many inputs, streamed into one `.npy` (memory bounded
/// by a batch), and a picture of one input's channels.
public enum FeatureExtraction {
    /// Where the inputs come from.
    public enum Source {
        case images(ImageInputs)
        /// A preprocessed `.npy` batch in the given layout.
        case array(path: String, layout: TensorLayoutChoice)
    }

    /// What was written.
    public struct Result: Sendable {
        public var layer: String
        /// The `.npy`'s shape.
        public var shape: [Int]
        /// The first input's activations, (C, H, W) or (N).
        public var first: [Float]
        public var sampleShape: [Int]
    }

    /// The name of the last pooling layer (the usual "bottleneck features"), else of the last layer.
    public static func defaultLayer(_ architecture: NativeArchitecture) -> String {
        (architecture.layers.last { $0.type == .maxPooling2d } ?? architecture.layers.last)?.name ?? ""
    }

    /// Runs the network up to `layer` on every input and writes the activations to `output` as float32,
    /// (N, C, H, W) or (N, H, W, C) per `layout`, through a temporary file.
    /// - Throws: `RequestError.noSuchLayer` for an unknown layer; input and model errors.
    public static func extract(model: NativeFile, layer: String?, source: Source, output: String, layout: TensorLayoutChoice,
                               overwrite: Bool, progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let architecture = model.header.architecture
        let name = layer ?? defaultLayer(architecture)
        guard let target = architecture.layers.first(where: { $0.name == name || $0.sourceName == name }) else {
            throw RequestError.noSuchLayer(layer: name, layers: architecture.layers.map(\.name))
        }
        let variant = RunVariant(stopAfter: target.name)
        let engine: InferenceEngine
        let count: Int
        let sample: @Sendable (Int) throws -> [Float]
        switch source {
        case .images(let inputs):
            engine = try inputs.engine(model, variant: variant)
            count = inputs.paths.count
            sample = { try inputs.tensor($0) }
        case .array(let path, let inputLayout):
            let prepared = try PreparedInput(model: model, input: path, layout: inputLayout)
            engine = try InferenceEngine(file: model, inputShape: prepared.sampleShape, variant: variant)
            count = prepared.batch
            let (size, values) = (ShapeMath.elementCount(prepared.sampleShape) ?? 0, prepared.values)
            sample = { Array(values[($0 * size)..<(($0 + 1) * size)]) }
        }
        let shape = engine.outputShape
        let stored = layout == .nhwc ? ChannelOrder.channelsLast(shape) : shape
        let header = NpyArray.header(dtype: .float32, shape: [count] + stored)
        let sampleBytes = (ShapeMath.elementCount(shape) ?? 0) * 4
        let file = try OutputFile(path: output, overwrite: overwrite)
        try header.withUnsafeBytes { try file.write($0, at: 0) }
        var first: [Float] = []
        // Inputs are decoded and preprocessed a batch ahead, in parallel, while the engine runs.
        try BatchPipeline.run(count: count, batch: ImageInputs.batch, prepare: sample) { indices, samples in
            let (start, batch) = (indices.lowerBound, indices.count)
            var values = engine.run(samples.flatMap { $0 }, batch: batch)
            if start == 0 { first = Array(values.prefix(sampleBytes / 4)) }
            if layout == .nhwc, shape.count == 3 {
                values = Layout.permute(values, batch: batch, c: shape[0], h: shape[1], w: shape[2], toChannelsLast: true)
            }
            try values.withUnsafeBytes { try file.write($0, at: header.count + start * sampleBytes) }
            progress?(start + batch, count)
        }
        try file.commit()
        return Result(layer: target.name, shape: [count] + stored, first: first, sampleShape: shape)
    }

    /// One input's feature map as a grid of gray channel tiles (at most `limit` channels).
    public static func grid(_ result: Result, limit: Int = 64) -> RGBImage? {
        guard result.sampleShape.count == 3 else { return nil }
        let (c, h, w) = (result.sampleShape[0], result.sampleShape[1], result.sampleShape[2])
        return TileGrid.render((0..<min(c, limit)).map { channel in
            TileGrid.grayTile(result.first[(channel * h * w)..<((channel + 1) * h * w)], height: h, width: w, label: channel)
        })
    }
}

/// `vggconv filters`: a convolution's kernels as a picture.
public enum FilterPicture {
    /// The first convolution's kernels as RGB tiles when it takes 3 channels; otherwise gray tiles, filter
    /// by filter and input channel by input channel. At most `count` tiles.
    /// - Throws: `RequestError.notAConvolution` when `layer` is not a convolution of the model.
    public static func render(model: NativeFile, layer: String?, count: Int) throws -> (image: RGBImage, layer: String, tiles: Int) {
        let layers = model.header.architecture.layers
        guard let conv = layers.first(where: { $0.type == .conv2d && (layer == nil || $0.name == layer || $0.sourceName == layer) }) else {
            throw RequestError.notAConvolution(layer: layer ?? "", convolutions: layers.filter { $0.type == .conv2d }.map(\.name))
        }
        let kernel = try model.tensor(named: ParameterRole.kernel.tensorName(ofLayer: conv.name))
        let values = model.floats(of: kernel)
        let (o, i, h, w) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
        let tiles: [TileGrid.Tile]
        if i == 3 {
            tiles = (0..<min(o, count)).map { TileGrid.colorTile(values[($0 * 3 * h * w)..<(($0 + 1) * 3 * h * w)], height: h, width: w, label: $0) }
        } else {
            tiles = (0..<min(o * i, count)).map { TileGrid.grayTile(values[($0 * h * w)..<(($0 + 1) * h * w)], height: h, width: w, label: $0) }
        }
        return (TileGrid.render(tiles), conv.name, tiles.count)
    }
}
