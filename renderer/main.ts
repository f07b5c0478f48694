/** Renderer entry: the Vue app with Pinia and the host's ConvmapApi (window.convmap). */
import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { provideApi, windowApi } from './api';
import './style.css';

const app = createApp(App);
provideApi(app, windowApi());
app.use(createPinia());
app.mount('#app');
