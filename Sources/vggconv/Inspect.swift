import ArgumentParser
import Foundation
import VGGConvKit

extension VGGConv {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tensors of any file vggconv reads (.h5, .keras, .pth, .safetensors, .onnx, .vggw, …).",
            discussion: "For each tensor: name, source name, dtype, shape, layout, absolute byte offset, byte count and CRC-32.")

        @Argument(help: "The file to inspect.", completion: .file())
        var file: String

        @Flag(help: "Print one JSON object with a 'tensors' list instead of a table.")
        var json = false

        func run() throws {
            let inventory = try TensorInventory.of(path: file)
            print(json ? try InventoryReport.json(inventory) : InventoryReport.table(inventory))
        }
    }
}
