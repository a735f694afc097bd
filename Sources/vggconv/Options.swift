import Foundation
import ArgumentParser
import VGGConvKit
import FileIO
import VGGCore

/// Floating-point storage types `--dtype` accepts.
enum DTypeChoice: String, ExpressibleByArgument, CaseIterable {
    case f32, f16, bf16

    var dtype: DType { DType(shortName: rawValue)! }
}

/// The global pooling `--pool` names for a PyTorch head that takes the channel count.
enum PoolChoice: String, ExpressibleByArgument, CaseIterable {
    case avg, max

    var layerType: LayerType { self == .max ? .globalMaxPooling2d : .globalAveragePooling2d }
    static let help: ArgumentHelp = "PyTorch and safetensors inputs whose head takes the channel count: how the map is pooled, avg (AdaptiveAvgPool2d(1), assumed when not given) or max (AdaptiveMaxPool2d(1)); a state_dict does not record it."
}

/// Prints on stderr the choices the reader made that the file does not record, each with the option
/// that makes the other choice.
func printAssumptions(_ assumptions: [Assumption]) {
    for assumption in assumptions {
        FileHandle.standardError.write(Data("note: \(assumption.note); \(flags(assumption.remedy)) where \(assumption.otherChoiceWhen)\n".utf8))
    }
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

/// `--threads N`: the threads the engine, the transforms and the conversions use (default: every core).
struct ThreadsOption: ParsableArguments {
    @Option(help: "Threads to use (default: all cores; also VGGCONV_THREADS).")
    var threads: Int?

    func validate() throws {
        guard threads.map({ (1...Cores.maximumThreads).contains($0) }) ?? true else {
            throw ValidationError("--threads must be 1 to \(Cores.maximumThreads)")
        }
    }

    /// Sets the thread count before anything reads it.
    func apply() {
        if let threads { setenv(Cores.threadsVariable, "\(threads)", 1) }
    }
}
