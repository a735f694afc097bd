import ArgumentParser
import Foundation
import VGGConvKit

/// The `vggconv` command: parsing only; the work happens in VGGConvKit.
@main
struct VGGConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vggconv",
        abstract: "Convert VGG-family weights between Keras, PyTorch and a native packed format.",
        discussion: "Exit status: 0 on success, 1 on a failed verification, 2 on bad input or usage.",
        version: VGGConvKit.version,
        subcommands: [Keras2Native.self, Torch2Native.self, Summary.self, Inspect.self, Run.self, Verify.self, Bench.self])

    /// Runs the command; every failure prints one clear line on stderr and exits with status 2.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error)
            let line = message.hasPrefix("Error:") ? message : "error: " + VGGConvKit.printableError(message)
            FileHandle.standardError.write(Data((line + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
