import ArgumentParser
import Foundation
import FileIO
import VGGConvKit

extension VGGConv {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put the parts of a sharded run (--shard K/N) back together, as one process writes it.",
            discussion: """
            Feature parts (F.npy with F.npy.part.json beside it) become one .npy in input order, streamed; \
            `predict --json` parts one list in input order; `evaluate --json` parts one report whose counts \
            are the sums. A missing, duplicated or mismatched part (another model, preprocessing, layer, \
            option or N) is refused naming it.
            """)

        @Argument(help: "The parts, in any order.", completion: .file())
        var parts: [String]

        @Option(name: .shortAndLong, help: "The merged file to write (stdout for predict and evaluate parts when omitted).")
        var output: String?

        @Flag(help: "Overwrite the output if it exists.")
        var force = false

        func validate() throws {
            guard !parts.isEmpty else { throw ValidationError("give the parts to merge") }
        }

        func run() throws {
            switch try ShardMerge.kind(of: parts[0]) {
            case .features:
                guard let output else { throw ValidationError("feature parts merge into a .npy: give -o OUT.npy") }
                let shape = try ShardMerge.features(parts, output: output, overwrite: force)
                print("wrote \(output): float32 \(shape) from \(parts.count) parts")
            case .predict: try emit(try JSONOutput.text(try ShardMerge.predictions(parts)))
            case .evaluate: try emit(try JSONOutput.text(try ShardMerge.evaluation(parts)))
            }
        }

        /// JSON to stdout, or to `output` through a temporary file.
        private func emit(_ text: String) throws {
            guard let output else { return print(text) }
            try Converter.checkOutput(output, inputs: parts, overwrite: force)
            let file = try OutputFile(path: output, overwrite: force)
            try Array((text + "\n").utf8).withUnsafeBytes { try file.write($0, at: 0) }
            try file.commit()
        }
    }
}
