"""From a generation job store to typed records: ``detail`` (with the local objects) and ``conversation`` turns.

Generated rows must never collide with released rows of the same image, so their ids end in ``/gen``: the detail
item's ``question_id`` is ``<source>/<split>/<image_path>/detail/gen`` and the conversation turns' are
``<source>/<split>/<image_path>/conversation/gen#<k>``, which is ``rsgpt4v.rows.row_id(...) + GENERATED_SUFFIX`` plus
the item index. ``image_path`` stays the real release-relative path; ``origin`` is ``generated:<model>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rsgpt4v.generate.store import PENDING, STAGES, JobStore
from rsgpt4v.rows import GENERATED_SUFFIX
from rsgpt4v.schema import Record, Rejection

__all__ = ["GENERATED_SUFFIX", "records_from_store"]

#: What ends the row id of every generated row.


def records_from_store(store_path: str | Path, split: str | None = None) -> Iterator[Record | Rejection]:
    """Yield the store's finished outputs as records, and a rejection for each image stage that is not done.

    Per image, one ``detail`` record (``text`` = the global description, ``objects`` = the local objects with
    ``category``, pixel ``bbox`` and ``description``) once both the local and global stages are done, and one
    ``conversation`` record per turn (``question``, ``answer``) once the conversation stage is done.

    Args:
        store_path: the job store written by ``rsgpt4v generate``.
        split: put every record in this split instead of the split each image was generated for.

    Raises:
        FileNotFoundError: if there is no store at ``store_path``.
    """
    path = Path(store_path)
    if not path.is_file():
        raise FileNotFoundError(f"--source generated={store_path}: no job store there; run `rsgpt4v generate` first.")
    with JobStore(path) as store:
        jobs = store.jobs()
        for item in store.images():
            states = {stage: jobs.get(item.image_id, {}).get(stage, PENDING) for stage in STAGES}
            split_name = split or item.split
            base = f"{item.source}/{split_name}/{item.image_path}"
            common = {
                "source": item.source,
                "split": split_name,
                "image_path": item.image_path,
                "image_file": item.image_file,
                "width": item.width,
                "height": item.height,
            }
            for task, needs in (("detail", STAGES[:2]), ("conversation", STAGES)):
                missing = next((stage for stage in needs if states[stage].status != "done"), None)
                if missing is not None:
                    state = states[missing]
                    reason = (
                        f"the {missing} stage failed: {state.error}"
                        if state.status == "failed"
                        else f"the {missing} stage has not run yet"
                    )
                    yield Rejection(item.source, split_name, str(path), f"{item.image_id}/{missing}", reason, task)
                elif task == "detail":
                    yield Record(
                        task="detail",
                        question_id=f"{base}/detail{GENERATED_SUFFIX}",
                        origin=f"generated:{states['global'].model}",
                        text=states["global"].output["description"],
                        objects=states["local"].output["objects"],
                        **common,
                    )
                else:
                    conversation = states["conversation"]
                    for k, turn in enumerate(conversation.output["turns"]):
                        yield Record(
                            task="conversation",
                            question_id=f"{base}/conversation{GENERATED_SUFFIX}#{k}",
                            origin=f"generated:{conversation.model}",
                            question=turn["question"],
                            answer=turn["answer"],
                            **common,
                        )
