//! `zkinfer export-verifier`: the Solidity verifier of an aggregated proof's key, its
//! deployment bytecode (solc 0.8.19) and the calldata that carries the proof.

use anyhow::{Context, Result};
use serde_json::json;
use zkinfer_prover::aggregate::circuit::{INPUT_COMMITMENT, MODEL_ID_HI, OUTPUT_INDEX};
use zkinfer_prover::evm::MAX_CODE_SIZE;
use zkinfer_prover::{calldata, export_solidity, Solc};

use crate::aggregated::{read, verifier_params};
use crate::ExportVerifierArgs;

pub fn run(a: ExportVerifierArgs) -> Result<()> {
    let agg = read(&a.agg)?;
    let params = verifier_params(&agg, a.srs.as_deref())?;
    // Refuse to export a verifier for a proof that does not verify: its key is suspect.
    let outputs = agg.verify(&params).context("the aggregated proof does not verify")?;
    let solc = Solc::from_env();
    let (source, bytecode) = export_solidity(&params, &agg.vk, &solc).with_context(|| {
        format!("exporting with {} (set ZKINFER_SOLC or put solc 0.8.19 on PATH)", solc.program().display())
    })?;
    std::fs::write(&a.solidity, &source).with_context(|| format!("cannot write {}", a.solidity.display()))?;
    if let Some(path) = &a.bytecode {
        std::fs::write(path, hex::encode(&bytecode))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let data = calldata(&agg.instances, &agg.proof);
    if let Some(path) = &a.calldata {
        std::fs::write(path, hex::encode(&data))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // The initcode holds the runtime code plus a short constructor; EIP-170 limits the runtime code.
    let over_limit = bytecode.len() > MAX_CODE_SIZE;
    if a.json {
        println!(
            "{}",
            json!({ "solidity": a.solidity, "source_bytes": source.len(), "initcode_bytes": bytecode.len(),
                    "calldata_bytes": data.len(), "vk_hash": agg.vk_hash().to_string(),
                    "model_id": outputs.model_id.to_string(), "may_exceed_code_limit": over_limit })
        );
    } else {
        println!("Solidity verifier: {} ({} bytes of source)", a.solidity.display(), source.len());
        println!(
            "initcode: {} bytes{}",
            bytecode.len(),
            a.bytecode.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default()
        );
        if over_limit {
            println!("WARNING: over the EVM's {MAX_CODE_SIZE}-byte code limit (EIP-170): the runtime code will likely not deploy on mainnet");
        }
        println!(
            "calldata: {} bytes{} — {} public input words (model id at words {MODEL_ID_HI}-{}, next token at word {OUTPUT_INDEX}, input commitment at word {INPUT_COMMITMENT}) then the proof",
            data.len(),
            a.calldata.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default(),
            agg.instances.len(),
            MODEL_ID_HI + 1,
        );
        println!("for the aggregation key {} of model {}", agg.vk_hash(), outputs.model_id);
    }
    Ok(())
}
