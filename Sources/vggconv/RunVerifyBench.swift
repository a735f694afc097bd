import ArgumentParser
import Foundation
import VGGConvKit
import FileIO

extension TensorLayoutChoice: ExpressibleByArgument {}

/// The model argument of every command that runs a model (any format: converted on the fly).
struct ModelArgument: ParsableArguments {
    @Argument(help: "The model: .vggw, or any file convert reads (converted on the fly).", completion: .file())
    var model: String

    @Option(help: "A Keras architecture JSON (model.to_json(), or a .keras archive's config.json) giving the layers of a weights-only model file.",
            completion: .file(extensions: ["json"]))
    var config: String?

    @Option(help: PoolChoice.help)
    var pool: PoolChoice?

    var reading: ReadOptions { ReadOptions(configPath: config, globalPool: pool?.layerType) }
}

/// The model and input options shared by `run` and `verify`.
struct InputOptions: ParsableArguments {
    @OptionGroup var modelArgument: ModelArgument
    var model: String { modelArgument.model }
    var reading: ReadOptions { modelArgument.reading }

    @Option(help: "A .npy of float32/float64 inputs, (N, C, H, W) or (N, H, W, C); already preprocessed (vggconv applies no Keras/torchvision preprocessing).",
            completion: .file(extensions: ["npy"]))
    var input: String

    @Option(help: "The axis order of the input (and of 4-D outputs); default nchw, or nhwc for a model whose file records an N,H,W,C input (an ONNX graph from Keras).")
    var inputLayout: TensorLayoutChoice?

    /// `--input-layout`, or the model's own default.
    var layout: TensorLayoutChoice { inputLayout ?? TensorLayoutChoice.defaultInput(for: model) }

    @Flag(help: "Stop before a final softmax (a Softmax layer or the last layer's softmax activation): compare logits with any framework.")
    var logits = false

    var variant: RunVariant { RunVariant(logits: logits) }

    @OptionGroup var threads: ThreadsOption
}

extension VGGConv {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a model (any format vggconv reads) on a .npy input and write the outputs as .npy.",
            discussion: "Inputs are tensors: resize, scale and normalise them as the original framework expects first (Keras 'caffe' BGR mean subtraction, torchvision's RGB mean/std).")

        @OptionGroup var inputs: InputOptions

        @Option(name: .shortAndLong, help: "Where to write the outputs (.npy).")
        var output: String

        @Flag(help: "Overwrite the output file if it exists.")
        var force = false

        func run() throws {
            inputs.threads.apply()
            try Converter.checkOutput(output, inputs: [inputs.model, inputs.input], overwrite: force)
            let result = try Prediction.run(model: inputs.model, reading: inputs.reading, input: inputs.input, layout: inputs.layout,
                                            variant: inputs.variant)
            try result.write(to: output, overwrite: force)
            print("wrote \(output): float32 \(result.shape)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a model (any format vggconv reads) against golden outputs from Keras or PyTorch.",
            discussion: "Prints per sample the max absolute and relative error, cosine similarity and top-1/top-5 agreement. Exit status 0 when every sample is within tolerance with identical top-5, 1 otherwise, 2 on bad input.")

        @OptionGroup var inputs: InputOptions

        @Option(help: "The outputs the original framework produced for the same input (.npy).", completion: .file(extensions: ["npy"]))
        var golden: String?

        @Option(help: "Per-layer activations from the framework (.npz keyed by layer name or module path; scripts/reference/dump_layers_torch.py, scripts/reference/dump_layers_keras.py): compared layer by layer, naming the first that diverges.",
                completion: .file(extensions: ["npz"]))
        var layers: String?

        @Option(help: "Absolute tolerance added to the relative one.")
        var atol: Float = 0

        @Option(help: "Tolerance relative to each sample's largest |golden| value.")
        var rtol: Float = 1e-4

        @Flag(help: "On failure, re-run under each known cause (softmax vs logits, input layout, RGB/BGR, preprocessing, BatchNorm epsilon, Flatten order) and name those under which it passes.")
        var explain = false

        func validate() throws {
            guard atol.isFinite, rtol.isFinite, atol >= 0, rtol >= 0 else {
                throw ValidationError("--atol and --rtol must be finite and not negative")
            }
            guard golden != nil || layers != nil else { throw ValidationError("give --golden OUTPUTS.npy, --layers ACTIVATIONS.npz, or both") }
        }

        func run() throws {
            inputs.threads.apply()
            // Resolved once: for an ONNX model it reads the graph.
            let layout = inputs.layout
            var passed = true
            if let layers {
                let rows = try LayerComparison.compare(model: inputs.model, reading: inputs.reading, input: inputs.input, layout: layout,
                                                       variant: inputs.variant, golden: layers, atol: atol, rtol: rtol)
                let (text, ok) = LayerComparison.report(rows, atol: atol, rtol: rtol)
                print(text)
                passed = ok
            }
            if let goldenPath = golden {
                let output = try Prediction.run(model: inputs.model, reading: inputs.reading, input: inputs.input, layout: layout,
                                                variant: inputs.variant)
                let golden = try VGGConvKit.readNpy(goldenPath)
                let verification = try Verification.compare(output: output, golden: golden, goldenPath: goldenPath, atol: atol, rtol: rtol)
                print(verification.report)
                if !verification.passed {
                    passed = false
                    if explain {
                        print(DiagnosisReport.explanation(try Explanation.explain(model: inputs.model, reading: inputs.reading, input: inputs.input,
                                                                                  golden: goldenPath, layout: layout, variant: inputs.variant,
                                                                                  atol: atol, rtol: rtol)))
                    } else if let cause = Explanation.evidentCause(output: output, golden: golden) {
                        print(DiagnosisReport.hint(cause))
                    } else if let loss = Explanation.precisionLoss(model: inputs.model, verification: verification) {
                        print(DiagnosisReport.hint(loss))
                    }
                }
            }
            if !passed { throw ExitCode(1) }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the forward-pass latency of a model (any format vggconv reads; load time excluded).")

        @OptionGroup var modelArgument: ModelArgument
        var model: String { modelArgument.model }

        @Option(help: "Samples per forward pass.")
        var batch = 1

        @Option(help: "Timed forward passes after one warm-up.")
        var iterations = 10

        @Flag(help: "Also print each layer's median time.")
        var layers = false

        @Flag(help: .hidden)
        var im2col = false

        @OptionGroup var threads: ThreadsOption

        @Flag(help: "Print JSON (times in ms, the kernels and threads used, the load time, each layer's median with --layers).")
        var json = false

        /// What `--json` prints.
        struct Report: Encodable {
            struct Step: Encodable { let label: String; let medianMs: Double }
            let batch: Int, iterations: Int, medianMs: Double, minMs: Double, maxMs: Double, msPerImage: Double
            let kernels: String, threads: Int, loadMs: Double, steps: [Step]
        }

        static let maximumBatch = 256
        static let maximumIterations = 100_000

        func validate() throws {
            guard (1...Self.maximumBatch).contains(batch), (1...Self.maximumIterations).contains(iterations) else {
                throw ValidationError("--batch must be 1 to \(Self.maximumBatch) and --iterations 1 to \(Self.maximumIterations)")
            }
        }

        func run() throws {
            threads.apply()
            let result = try Benchmark.run(model: model, reading: modelArgument.reading, batch: batch, iterations: iterations, fastKernels: !im2col, perLayer: layers)
            if json {
                return print(try JSONOutput.text(Report(
                    batch: batch, iterations: iterations, medianMs: result.median, minMs: result.milliseconds.min()!,
                    maxMs: result.milliseconds.max()!, msPerImage: result.median / Double(batch), kernels: result.kernels,
                    threads: Cores.count, loadMs: result.loadMilliseconds, steps: result.steps.map { Report.Step(label: $0.label, medianMs: $0.median) })))
            }
            for step in result.steps {
                print(String(format: "%9.3f ms  %5.1f%%  ", step.median, 100 * step.median / result.median) + step.label)
            }
            print(String(format: "batch %d, %d iterations: median: %.1f ms  min: %.1f ms  max: %.1f ms  (%.1f ms per image), %@ kernels; loaded in %.0f ms",
                         batch, iterations, result.median, result.milliseconds.min()!, result.milliseconds.max()!, result.median / Double(batch),
                         result.kernels, result.loadMilliseconds))
        }
    }
}
