import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Built into the Python package; relative asset URLs so any mount path works.
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir: "../src/murmur_dashboard/static",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
