import { defineConfig } from "vitest/config";

export default defineConfig({
  // tests/bundle.test.ts imports the built ../chatzoo_widget/static/widget.js, outside this folder.
  server: { fs: { allow: [".."] } },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.ts"],
    reporters: ["default"],
  },
});
