import ArgumentParser
import VGGConvKit
import VGGCore

/// Floating-point storage types `--dtype` accepts.
enum DTypeChoice: String, ExpressibleByArgument, CaseIterable {
    case f32, f16, bf16

    var dtype: DType { DType(shortName: rawValue)! }
}

/// Output options shared by the conversions.
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The output file (default: the input's name with .vggw).")
    var output: String?

    @Option(help: "Store floating-point tensors in this type (default: as stored in the source).")
    var dtype: DTypeChoice?

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false
}
