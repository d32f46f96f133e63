// Every way images reach the page: the file picker, drag-and-drop onto the
// drop zone (one file or several), paste from the clipboard, and the sample
// photos. Each ends in `onImages([{ blob, name }])`; a sample that can't be
// fetched in `onError(e)`.

const photosOf = (files) => [...files].map((file) => ({ blob: file, name: file.name }));

export function wireInputs({ fileInput, dropZone, samples, onImages, onError }) {
  fileInput.addEventListener("change", () => {
    if (fileInput.files.length) onImages(photosOf(fileInput.files));
    // The same file picked twice in a row must fire `change` again.
    fileInput.value = "";
  });

  // dragover must be cancelled, or the browser opens the dropped file itself.
  for (const type of ["dragenter", "dragover"]) {
    dropZone.addEventListener(type, (e) => {
      e.preventDefault();
      dropZone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    dropZone.addEventListener(type, () => dropZone.classList.remove("dragging"));
  }
  dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) onImages(photosOf(e.dataTransfer.files));
  });
  // A file dropped beside the zone would otherwise navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  document.addEventListener("paste", (e) => {
    const item = [...e.clipboardData.items].find((i) => i.kind === "file");
    if (!item) return;
    e.preventDefault();
    onImages([{ blob: item.getAsFile(), name: "pasted image" }]);
  });

  for (const button of samples.querySelectorAll("button[data-photo]")) {
    button.addEventListener("click", async () => {
      const url = `/photos/${button.dataset.photo}`;
      try {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`the sample ${url} could not be loaded (HTTP ${res.status})`);
        onImages([{ blob: await res.blob(), name: button.dataset.photo }]);
      } catch (e) {
        onError(e);
      }
    });
  }
}
