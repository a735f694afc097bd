import ArgumentParser
import Foundation
import VGGConvKit

extension VGGConv {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two model files of any formats and name the conversion slip behind each difference.",
            discussion: """
            Tensors are compared in canonical layout, aligned by canonical name (by order and shape when the \
            layers differ), streamed from both files. For each tensor that differs, the known slips are tried: \
            the Flatten permutation of the first Dense, kernels rotated 180 degrees, input channels reversed \
            (BGR/RGB), any axis permutation (untransposed kernels), float16/bfloat16 rounding, a constant scale. \
            Exit status 0 when identical within tolerance, 1 when different, 2 on bad input.
            """)

        @Argument(help: "The first model file (Keras, PyTorch, safetensors, .vggw).", completion: .file())
        var a: String

        @Argument(help: "The second model file.", completion: .file())
        var b: String

        @Option(help: "A Keras architecture JSON for A when A is a weights-only file.", completion: .file(extensions: ["json"]))
        var config: String?

        @Option(help: "A Keras architecture JSON for B when B is a weights-only file.", completion: .file(extensions: ["json"]))
        var configB: String?

        @Option(help: "Absolute tolerance (default 0: bit-equal float32 values).")
        var atol: Float = 0

        @Option(help: "Tolerance relative to each tensor's largest |value| in B.")
        var rtol: Float = 0

        @Flag(help: "Print the comparison as JSON.")
        var json = false

        func validate() throws {
            guard atol.isFinite, rtol.isFinite, atol >= 0, rtol >= 0 else {
                throw ValidationError("--atol and --rtol must be finite and not negative")
            }
        }

        @OptionGroup var threads: ThreadsOption

        func run() throws {
            threads.apply()
            let report = try ModelDiff.compare(a, b, configA: config, configB: configB, atol: atol, rtol: rtol)
            print(json ? try report.json() : report.text)
            if !report.identical { throw ExitCode(1) }
        }
    }
}
