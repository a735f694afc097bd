import ArgumentParser
import Foundation
import VGGConvKit
import FileIO
import VGGCore

/// The `vggconv` command: parsing only; the work happens in VGGConvKit.
@main
struct VGGConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vggconv",
        abstract: "Convert, inspect, run and verify VGG-family models across Keras (.h5, .keras, .weights.h5), PyTorch (.pth), safetensors, ONNX (export) and the native .vggw.",
        discussion: "Exit status: 0 on success, 1 on a failed verification, 2 on bad input or usage.",
        version: VGGConvKit.version,
        subcommands: [Keras2Native.self, Torch2Native.self, Convert.self, Summary.self, Inspect.self, Diff.self, Run.self, Verify.self, Bench.self, Predict.self, Evaluate.self, Features.self, Filters.self, Gradcam.self, Merge.self])

    /// Runs the command; every failure prints one clear line on stderr and exits with status 2.
    static func main() {
        InterruptCleanup.install()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Help and version print and succeed; usage errors keep ArgumentParser's text, with status 2.
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
        for note in EnvironmentSettings.ignored(ProcessInfo.processInfo.environment) {
            FileHandle.standardError.write(Data("note: \(note)\n".utf8))
        }
        do {
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch where exitCode(for: error) == .success {
            // `--help` parses to ArgumentParser's help command, whose run() throws the help request.
            exit(withError: error)
        } catch {
            // Failures of the work itself: one line (file text escaped), bounded length, exit status 2.
            let hint = remedyHint(error).map { "; " + $0 } ?? ""
            FileHandle.standardError.write(Data(("error: " + printableError("\(error)" + hint) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

/// The environment variables that tune the engine, checked so that a typo is named rather than silently
/// ignored.
enum EnvironmentSettings {
    static let kernelVariants = ["avx512", "avx2", "generic"]

    /// A note for each setting that is present but not one vggconv takes (it is then ignored). Reads
    /// nothing that `--threads` sets later (`Cores.count` is fixed on first use).
    static func ignored(_ environment: [String: String]) -> [String] {
        var notes: [String] = []
        if let text = environment[Cores.threadsVariable], !(Int(text).map { (1...Cores.maximumThreads).contains($0) } ?? false) {
            notes.append("\(Cores.threadsVariable)=\(SafeText.quote(text)) ignored: give a thread count from 1 to \(Cores.maximumThreads)")
        }
        if let text = environment["VGGCONV_SIMD"], !kernelVariants.contains(text) {
            notes.append("VGGCONV_SIMD=\(SafeText.quote(text)) ignored: give \(kernelVariants.joined(separator: ", ")); using the \(Benchmark.kernels) kernels")
        }
        return notes
    }
}
