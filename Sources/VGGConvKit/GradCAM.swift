import Foundation
import Imaging
import Inference
import FileIO
import VGGCore

/// `vggconv gradcam`: where the network looks for a class (Selvaraju et al., Grad-CAM). The engine runs
/// the image up to the chosen convolution block (its activations A, C×h×w); the layers after it —
/// MaxPool, Flatten, Dropout, AdaptiveAvgPool, Dense, ReLU — are run again here with their inputs kept, and
/// the gradient of the class score (before any softmax) flows back through them to A. Channel weights are
/// the spatial means of that gradient; the map is ReLU(Σ weight·A), upsampled bilinearly (as PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)`) to the network's input size.
public enum GradCAM {
    public struct Result: Sendable {
        /// The layer whose activations were weighted.
        public var layer: String
        public var classIndex: Int
        public var score: Float
        /// (h, w) and the map at that resolution.
        public var size: (height: Int, width: Int)
        public var map: [Float]
        /// The map upsampled to the input size (H × W).
        public var upsampled: [Float]
        /// The image as the network saw it (resized, cropped), for the overlay.
        public var input: RGBImage
    }

    /// The default layer: where the last convolution's block ends, before any pooling: a convolution without
    /// an activation of its own takes the BatchNormalization and then the ReLU that follow it (as the engine
    /// folds them into it).
    static func defaultLayer(_ layers: [NativeLayer]) -> String? {
        guard var end = layers.lastIndex(where: { $0.type == .conv2d }) else { return nil }
        guard (layers[end].config.activation ?? "linear") == "linear" else { return layers[end].name }
        if end + 1 < layers.count, layers[end + 1].type == .batchNormalization { end += 1 }
        if end + 1 < layers.count, layers[end + 1].type == .relu
            || (layers[end + 1].type == .activation && layers[end + 1].config.activation == "relu") { end += 1 }
        return layers[end].name
    }

    /// Computes the map for image `index` of `inputs`; `classIndex` nil takes the top-scoring class.
    /// - Throws: `RequestError` for a layer the model lacks or whose following layers are not all ones
    ///   the backward pass covers, and for a rank or class beyond the model's classes.
    /// `rank` picks the class ranked that high when `classIndex` is nil (1: the top-scoring class).
    public static func compute(model: NativeFile, inputs: ImageInputs, index: Int = 0, layer: String?, classIndex: Int?,
                               rank: Int = 1) throws -> Result {
        let plan = try Plan(model: model, inputs: inputs, layer: layer)
        let resized = try plan.resized(index)
        return try plan.map(activations: plan.engine.run(inputs.preprocessing.tensor(resized), batch: 1), input: resized,
                            classIndex: classIndex, rank: rank)
    }

    /// Computes the map of every image of `inputs` with one compiled network and hands each to `body`, in
    /// order: the images are decoded and resized a batch ahead on worker threads while the engine runs the
    /// current batch up to the layer (memory flat in the number of images); `progress` gets (done, total).
    /// - Throws: as `compute`, and whatever `body` throws (the first failing image in order stops the run).
    public static func computeEach(model: NativeFile, inputs: ImageInputs, layer: String?, classIndex: Int?, rank: Int = 1,
                                   progress: ((Int, Int) -> Void)? = nil, _ body: (Int, Result) throws -> Void) throws {
        let plan = try Plan(model: model, inputs: inputs, layer: layer)
        let sample = plan.engine.inputShape.reduce(1, *), output = plan.engine.outputShape.reduce(1, *)
        try BatchPipeline.run(count: inputs.paths.count, batch: ImageInputs.batch, prepare: { index in
            let resized = try plan.resized(index)
            return (resized, inputs.preprocessing.tensor(resized))
        }) { indices, prepared in
            let activations = plan.engine.run(prepared.flatMap(\.1), batch: indices.count)
            precondition(activations.count == indices.count * output && prepared.allSatisfy { $0.1.count == sample })
            for (offset, index) in indices.enumerated() {
                try body(index, try plan.map(activations: Array(activations[(offset * output)..<((offset + 1) * output)]),
                                             input: prepared[offset].0, classIndex: classIndex, rank: rank))
            }
            progress?(indices.upperBound, inputs.paths.count)
        }
    }

    /// The network compiled up to the chosen layer, and the layers after it with their dense weights read
    /// once, for any number of images.
    private struct Plan: @unchecked Sendable {
        let engine: InferenceEngine
        let inputs: ImageInputs
        let layer: String
        let tail: [NativeLayer]
        /// Each Dense layer's (weights, bias), by name (fc1 is 411 MB: read once).
        let dense: [String: (weights: [Float], bias: [Float])]

        /// Only the layers up to the chosen one are compiled; the tail's layers come from the architecture at
        /// the inputs' size.
        init(model: NativeFile, inputs: ImageInputs, layer requested: String?) throws {
            let architecture = model.header.architecture
            let layers = try architecture.withInput([architecture.inputShape[0], inputs.size.height, inputs.size.width]).layers
            guard let target = requested ?? defaultLayer(layers),
                  let position = layers.firstIndex(where: { $0.name == target || $0.sourceName == target }) else {
                throw RequestError.noSuchLayer(layer: requested ?? "", layers: layers.map(\.name))
            }
            let tail = RunVariant(logits: true).apply(to: Array(layers[(position + 1)...]))
            let supported: Set<LayerType> = [.maxPooling2d, .flatten, .dropout, .adaptiveAvgPool2d, .globalAveragePooling2d,
                                             .globalMaxPooling2d, .dense, .relu, .activation]
            if let other = tail.first(where: { !supported.contains($0.type) || ($0.type == .activation && $0.config.activation != "relu") }) {
                throw RequestError.gradCAMCannotPass(layer: target, blocking: other.name, type: other.type.rawValue)
            }
            engine = try inputs.engine(model, variant: RunVariant(stopAfter: layers[position].name))
            guard engine.outputShape.count == 3 else { throw RequestError.notASpatialMap(layer: target) }
            var dense: [String: (weights: [Float], bias: [Float])] = [:]
            var features = ShapeMath.elementCount(engine.outputShape) ?? 0  // what reaches each Dense
            for layer in tail {
                guard layer.type == .dense else {
                    if [.maxPooling2d, .adaptiveAvgPool2d, .globalAveragePooling2d, .globalMaxPooling2d].contains(layer.type) {
                        features = ShapeMath.elementCount(layer.outputShape) ?? 0
                    }
                    continue
                }
                let kernel = try model.tensor(named: ParameterRole.kernel.tensorName(ofLayer: layer.name))
                guard kernel.shape.count == 2, kernel.shape[1] == features else {  // another input size than the model's
                    throw InferenceError.inputShape(expected: [-1] + architecture.inputShape, actual: [-1] + engine.inputShape,
                                                    fixedBy: (layer.name, kernel.shape.last ?? 0))
                }
                let bias = (try? model.tensor(named: ParameterRole.bias.tensorName(ofLayer: layer.name))).map(model.floats) ?? []
                dense[layer.name] = (model.floats(of: kernel), bias)
                features = kernel.shape[0]
            }
            self.inputs = inputs
            self.layer = layers[position].name
            self.tail = tail
            self.dense = dense
        }

        /// Image `index`, decoded and resized as the network sees it.
        func resized(_ index: Int) throws -> RGBImage {
            inputs.preprocessing.resize(try ImageDecoder.decode(path: inputs.paths[index]), height: inputs.size.height, width: inputs.size.width)
        }

        /// The map from the layer's `activations` for `input` (the resized image, kept for the overlay).
        func map(activations: [Float], input resized: RGBImage, classIndex: Int?, rank: Int) throws -> Result {
            let shape = engine.outputShape
            // Forward through the tail, keeping what the backward pass needs.
            var value = activations, currentShape = shape
            var tape: [(layer: NativeLayer, input: [Float], inputShape: [Int], output: [Float], weights: [Float])] = []
            for layer in tail {
                let input = value, inputShape = currentShape
                var weights: [Float] = []  // a Dense layer's, for the backward pass
                switch layer.type {
                case .maxPooling2d:
                    (value, currentShape) = try maxPool(input, inputShape, layer)
                case .adaptiveAvgPool2d:
                    (value, currentShape) = averagePool(input, inputShape, layer.outputShape)
                case .globalAveragePooling2d:
                    value = averagePool(input, inputShape, [inputShape[0], 1, 1]).0
                    currentShape = layer.outputShape
                case .globalMaxPooling2d:
                    value = globalMaxPool(input, inputShape).map { input[$0] }
                    currentShape = layer.outputShape
                case .dense:
                    let bias: [Float]
                    (weights, bias) = dense[layer.name]!
                    let units = layer.outputShape[0]
                    value = MatrixVector.product(weights, rows: units, columns: input.count, input).enumerated().map { o, product in
                        let sum = product + (bias.isEmpty ? 0 : bias[o])
                        return layer.config.activation == "relu" ? max(sum, 0) : sum
                    }
                    currentShape = [units]
                case .relu, .activation:
                    value = input.map { max($0, 0) }
                case .flatten:
                    currentShape = [input.count]
                default:
                    break  // Dropout: identity
                }
                tape.append((layer, input, inputShape, value, weights))
            }
            guard currentShape.count == 1 else {
                throw RequestError.notAClassifier(outputShape: currentShape)
            }
            let scores = value
            guard (1...scores.count).contains(rank) else {
                throw RequestError.rankOutOfRange(rank: rank, classes: scores.count)
            }
            let chosen = classIndex ?? scores.indices.sorted { scores[$0] > scores[$1] }[rank - 1]
            guard scores.indices.contains(chosen) else {
                throw RequestError.classOutOfRange(index: chosen, classes: scores.count)
            }
            // Backward: d score / d activations.
            var gradient = [Float](repeating: 0, count: scores.count)
            gradient[chosen] = 1
            for entry in tape.reversed() {
                switch entry.layer.type {
                case .maxPooling2d:
                    gradient = try maxPoolBackward(gradient, entry.input, entry.inputShape, entry.layer)
                case .adaptiveAvgPool2d:
                    gradient = averagePoolBackward(gradient, entry.inputShape, entry.layer.outputShape)
                case .globalAveragePooling2d:
                    gradient = averagePoolBackward(gradient, entry.inputShape, [entry.inputShape[0], 1, 1])
                case .globalMaxPooling2d:
                    var back = [Float](repeating: 0, count: entry.input.count)
                    for (channel, position) in globalMaxPool(entry.input, entry.inputShape).enumerated() { back[position] = gradient[channel] }
                    gradient = back
                case .dense:
                    if entry.layer.config.activation == "relu" { gradient = zip(gradient, entry.output).map { $1 > 0 ? $0 : 0 } }
                    gradient = MatrixVector.product(entry.weights, rows: gradient.count, columns: entry.input.count, gradient, transposed: true)
                case .relu, .activation:
                    gradient = zip(gradient, entry.input).map { $1 > 0 ? $0 : 0 }
                default:
                    break
                }
            }
            let (c, h, w) = (shape[0], shape[1], shape[2])
            var map = [Float](repeating: 0, count: h * w)
            for channel in 0..<c {
                let weight = gradient[(channel * h * w)..<((channel + 1) * h * w)].reduce(0, +) / Float(h * w)
                for i in 0..<(h * w) { map[i] += weight * activations[channel * h * w + i] }
            }
            map = map.map { max($0, 0) }
            return Result(layer: layer, classIndex: chosen, score: scores[chosen], size: (h, w), map: map,
                          upsampled: bilinear(map, h, w, to: inputs.size.height, inputs.size.width), input: resized)
            }
        }

    private static func poolWindow(_ layer: NativeLayer) throws -> LayerSchema.Window {
        let window = try LayerSchema.poolingWindow(layer.config)
        guard window.padding == .valid else {
            throw RequestError.gradCAMPaddedPool(layer: layer.name)
        }
        return window
    }

    private static func maxPool(_ x: [Float], _ s: [Int], _ layer: NativeLayer) throws -> ([Float], [Int]) {
        let window = try poolWindow(layer), out = layer.outputShape
        var y = [Float](repeating: -.infinity, count: out[0] * out[1] * out[2])
        for c in 0..<out[0] { for oy in 0..<out[1] { for ox in 0..<out[2] {
            for dy in 0..<window.height { for dx in 0..<window.width {
                let (iy, ix) = (oy * window.strideY + dy, ox * window.strideX + dx)
                y[(c * out[1] + oy) * out[2] + ox] = max(y[(c * out[1] + oy) * out[2] + ox], x[(c * s[1] + iy) * s[2] + ix])
            } }
        } } }
        return (y, out)
    }

    /// The gradient goes to the first position holding each window's maximum (as PyTorch's max pool).
    private static func maxPoolBackward(_ g: [Float], _ x: [Float], _ s: [Int], _ layer: NativeLayer) throws -> [Float] {
        let window = try poolWindow(layer), out = layer.outputShape
        var back = [Float](repeating: 0, count: x.count)
        for c in 0..<out[0] { for oy in 0..<out[1] { for ox in 0..<out[2] {
            var best = -Float.infinity, at = 0
            for dy in 0..<window.height { for dx in 0..<window.width {
                let index = (c * s[1] + oy * window.strideY + dy) * s[2] + ox * window.strideX + dx
                if x[index] > best { best = x[index]; at = index }
            } }
            back[at] += g[(c * out[1] + oy) * out[2] + ox]
        } } }
        return back
    }

    private static func averagePool(_ x: [Float], _ s: [Int], _ out: [Int]) -> ([Float], [Int]) {
        guard s != out else { return (x, s) }
        let (fh, fw) = (s[1] / out[1], s[2] / out[2])
        var y = [Float](repeating: 0, count: out[0] * out[1] * out[2])
        for c in 0..<s[0] { for iy in 0..<s[1] { for ix in 0..<s[2] {
            y[(c * out[1] + iy / fh) * out[2] + ix / fw] += x[(c * s[1] + iy) * s[2] + ix] / Float(fh * fw)
        } } }
        return (y, out)
    }

    /// The position of each channel's maximum (the first, as the forward pass keeps it).
    private static func globalMaxPool(_ x: [Float], _ s: [Int]) -> [Int] {
        let pixels = s[1] * s[2]
        return (0..<s[0]).map { c in
            let start = c * pixels
            return (start..<(start + pixels)).max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) } ?? start
        }
    }

    private static func averagePoolBackward(_ g: [Float], _ s: [Int], _ out: [Int]) -> [Float] {
        guard s != out else { return g }
        let (fh, fw) = (s[1] / out[1], s[2] / out[2])
        var back = [Float](repeating: 0, count: s[0] * s[1] * s[2])
        for c in 0..<s[0] { for iy in 0..<s[1] { for ix in 0..<s[2] {
            back[(c * s[1] + iy) * s[2] + ix] = g[(c * out[1] + iy / fh) * out[2] + ix / fw] / Float(fh * fw)
        } } }
        return back
    }

    /// PyTorch's bilinear interpolation with align_corners=False (source = (i + 0.5)·scale − 0.5, clamped).
    static func bilinear(_ map: [Float], _ h: Int, _ w: Int, to height: Int, _ width: Int) -> [Float] {
        func axis(_ i: Int, _ input: Int, _ output: Int) -> (Int, Int, Float) {
            let source = max((Float(i) + 0.5) * Float(input) / Float(output) - 0.5, 0)
            let low = min(Int(source), input - 1), high = min(low + 1, input - 1)
            return (low, high, source - Float(low))
        }
        var out = [Float](repeating: 0, count: height * width)
        for y in 0..<height {
            let (y0, y1, fy) = axis(y, h, height)
            for x in 0..<width {
                let (x0, x1, fx) = axis(x, w, width)
                let top = map[y0 * w + x0] * (1 - fx) + map[y0 * w + x1] * fx
                let bottom = map[y1 * w + x0] * (1 - fx) + map[y1 * w + x1] * fx
                out[y * width + x] = top * (1 - fy) + bottom * fy
            }
        }
        return out
    }

    /// The map as a jet-coloured heat map blended (40 %) over the input image.
    public static func overlay(_ result: Result) -> RGBImage {
        let image = result.input, top = result.upsampled.max() ?? 0
        var pixels = image.pixels
        for i in 0..<(image.width * image.height) {
            let v = top > 0 ? result.upsampled[i] / top : 0
            let jet = [min(max(1.5 - abs(4 * v - 3), 0), 1), min(max(1.5 - abs(4 * v - 2), 0), 1), min(max(1.5 - abs(4 * v - 1), 0), 1)]
            for c in 0..<3 {
                pixels[i * 3 + c] = UInt8((0.6 * Float(image.pixels[i * 3 + c]) + 0.4 * 255 * jet[c]).rounded())
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: pixels)
    }
}
