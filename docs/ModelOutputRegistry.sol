// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// Records an inference's next token only when it comes with a valid aggregated zkinfer
/// proof of one given model. `verifier` is the contract compiled by `zkinfer export-verifier`
/// for the aggregation key of that model; it reverts unless the proof verifies.
contract ModelOutputRegistry {
    /// BN254's scalar field: the verifier reduces every public input modulo it, so only
    /// values below it are accepted here, or two words could stand for one value.
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    address public immutable verifier;
    bytes32 public immutable modelId;

    /// input commitment (the prompt's embedding) => next token + 1 (0: nothing proved yet)
    mapping(uint256 => uint256) public nextTokenPlusOne;

    event OutputProved(uint256 indexed inputCommitment, uint256 nextToken, uint256 outputCommitment);

    constructor(address verifier_, bytes32 modelId_) {
        verifier = verifier_;
        modelId = modelId_;
    }

    /// `accumulator`: public inputs 0..12 of the proof; the rest as `zkinfer export-verifier`
    /// prints them; `proof`: the proof bytes.
    function submit(
        uint256[12] calldata accumulator,
        uint256 inputCommitment,
        uint256 outputCommitment,
        uint256 nextToken,
        uint256 nextLogit,
        bytes calldata proof
    ) external {
        require(
            inputCommitment < Q && outputCommitment < Q && nextToken < Q && nextLogit < Q,
            "not a field element"
        );
        uint256 idHi = uint256(modelId) >> 128;
        uint256 idLo = uint256(modelId) & type(uint128).max;
        // Words 13 and 14 (the input state's index and logit) are 0: the chain starts with a block.
        bytes memory input = abi.encodePacked(
            accumulator, inputCommitment, uint256(0), uint256(0), outputCommitment, nextToken, nextLogit, idHi, idLo, proof
        );
        (bool ok,) = verifier.staticcall(input);
        require(ok, "invalid proof");
        nextTokenPlusOne[inputCommitment] = nextToken + 1;
        emit OutputProved(inputCommitment, nextToken, outputCommitment);
    }
}
